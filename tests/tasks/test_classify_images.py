"""``rnnkit train classify --images rows|pixels``: images as sequences from IDX files, .npz
arrays and folders of PNGs per class; the sequences checked against NumPy reshapes, learning
against chance, and the refusals."""

import gzip
import json
import struct

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.data.images import read_labelled_images

COMMON = ["--progress", "off", "--device", "cpu", "--seed", "0"]


def rnnkit(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def halves(count, seed=0, size=8):
    """Noisy images bright in the top half (label 0) or the bottom half (label 1)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, size=(count, size, size)).astype(np.uint8)
    labels = np.arange(count) % 2
    for n, label in enumerate(labels):
        rows = slice(0, size // 2) if label == 0 else slice(size // 2, size)
        images[n, rows] += 150
    return images, labels


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize("scan", ["rows", "pixels"])
def test_idx_images_become_rows_or_pixels(scan, tmp_path):
    images, labels = halves(5, size=6)
    _write_idx(tmp_path / "t-images-idx3-ubyte.gz", images)
    _write_idx(tmp_path / "t-labels-idx1-ubyte.gz", labels)
    data = read_labelled_images(tmp_path / "t-images-idx3-ubyte.gz", scan, need_labels=True)
    assert data.labels == [str(v) for v in labels]
    shape = (6, 6) if scan == "rows" else (36, 1)
    for sequence, image in zip(data.numeric.sequences, images, strict=True):
        torch.testing.assert_close(
            sequence, torch.from_numpy(image.reshape(shape).astype(np.float32) / 255)
        )


def test_folder_of_pngs_per_class(tmp_path):
    images, labels = halves(4)
    for n, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = tmp_path / ("top" if label == 0 else "bottom")
        folder.mkdir(exist_ok=True)
        Image.fromarray(image).save(folder / f"{n}.png")
    data = read_labelled_images(tmp_path, "rows", need_labels=True)
    assert sorted(data.labels) == ["bottom", "bottom", "top", "top"]
    first = data.names.index("top/0.png")
    torch.testing.assert_close(
        data.numeric.sequences[first], torch.from_numpy(images[0] / 255.0).float()
    )


def test_row_wise_classification_learns(tmp_path):
    images, labels = halves(96)
    np.savez(tmp_path / "train.npz", images=images, labels=labels)
    test_images, test_labels = halves(40, seed=1)
    np.savez(tmp_path / "test.npz", images=test_images, labels=test_labels)
    run = tmp_path / "run"
    result = rnnkit("train", "classify", "--images", "rows", "--data", tmp_path / "train.npz",
                    "--out", run, "--hidden", "8", "--batch-size", "16", "--epochs", "8",
                    *COMMON)  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    metrics = json.loads(rnnkit("evaluate", run, "--data", tmp_path / "test.npz", "--json").stdout)
    assert metrics["accuracy"] >= 0.9, metrics  # chance: 0.5


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--audio"], "--images and --audio"),
        (["--sequence-column", "id"], "does not apply to --images"),
    ],
)
def test_conflicting_options_are_refused(args, fragment, tmp_path):
    images, labels = halves(8)
    np.savez(tmp_path / "d.npz", images=images, labels=labels)
    result = rnnkit("train", "classify", "--images", "rows", "--data", tmp_path / "d.npz",
                    "--out", tmp_path / "run", *args, *COMMON)  # fmt: skip
    assert result.exit_code == 2 and fragment in result.stderr, result.output
    assert not (tmp_path / "run").exists()


def test_bad_image_files_are_refused(tmp_path):
    np.savez(tmp_path / "x.npz", x=np.zeros((4, 8, 8), np.uint8))
    (tmp_path / "flat").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "flat" / "a.png")
    (tmp_path / "empty").mkdir()
    for data, fragment in [
        (tmp_path / "x.npz", "no array 'images'"),
        (tmp_path / "flat", "no class folders"),
        (tmp_path / "empty", "holds no PNG images"),
    ]:
        run = tmp_path / "run"
        result = rnnkit("train", "classify", "--images", "rows", "--data", data, "--out", run,
                        *COMMON)  # fmt: skip
        lines = result.stderr.splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and fragment in lines[0], result.output
        assert not run.exists()
