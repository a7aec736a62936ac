"""``classify --images cnn`` (the shared CNN's feature map read by an RNN) and ``caption
--encoder-from`` such a run: learning a tiny image set, the stored image settings against NumPy,
the CNN weights handed over exactly and kept frozen, and the refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.data.fashion_scenes import ShapeItems
from rnnkit.models.image_classifier import ImageClassifier
from rnnkit.training.rundir import read_safetensors

COMMON = ["--progress", "off", "--device", "cpu", "--seed", "0", "--precision", "fp32"]
CNN = ["--images", "cnn", "--encoder-widths", "4,8", "--hidden", "8", "--batch-size", "16"]
CAPTION = ["--image-size", "16", "--embedding-size", "16", "--decoder-hidden", "32",
           "--batch-size", "16"]  # fmt: skip
CAPTIONS = {0: "a square", 1: "a circle"}


def rnnkit(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_refused(result, out: Path, *fragments: str) -> None:
    """Exit 2 with one line naming every fragment, and no run directory written."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert all(f in lines[0] for f in fragments), lines[0]
    assert not out.exists()


def halves(count: int, seed: int = 0, size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Noisy images bright in the top half (label 0) or the bottom half (label 1)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, size=(count, size, size)).astype(np.uint8)
    labels = np.arange(count) % 2
    for n, label in enumerate(labels):
        rows = slice(0, size // 2) if label == 0 else slice(size // 2, size)
        images[n, rows] += 150
    return images, labels


def test_the_rnn_reads_the_feature_map_row_by_row():
    torch.manual_seed(0)
    model = ImageClassifier(3, image_channels=1, image_size=12, encoder_widths=(2, 3)).eval()
    images = torch.randn(2, 1, 12, 12)
    rows = model.rows(images)
    feature_map = model.encoder.stages(images).detach().numpy()  # (2, 3, 3, 3): B, F, h, w
    # by hand: row r holds column 0's three features, then column 1's, then column 2's
    expected = np.stack(
        [np.concatenate([feature_map[:, :, r, c] for c in range(3)], axis=1) for r in range(3)],
        axis=1,
    )
    np.testing.assert_allclose(rows.detach().numpy(), expected, rtol=1e-6)
    torch.testing.assert_close(model(images), model.classifier(rows))


def test_the_cnn_mode_learns_a_tiny_image_set(tmp_path):
    images, labels = halves(96)
    np.savez(tmp_path / "train.npz", images=images, labels=labels)
    test_images, test_labels = halves(40, seed=1)
    np.savez(tmp_path / "test.npz", images=test_images, labels=test_labels)
    run = tmp_path / "run"
    result = rnnkit("train", "classify", *CNN, "--data", tmp_path / "train.npz", "--val",
                    tmp_path / "train.npz", "--out", run, "--epochs", "4", *COMMON)  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    result = rnnkit("evaluate", run, "--data", tmp_path / "test.npz", "--json")
    assert result.exit_code == 0, (result.output, result.exception)
    assert json.loads(result.stdout)["accuracy"] >= 0.9  # chance: 0.5
    settings = json.loads((run / "images.json").read_text())
    pixels = images.astype(np.float64) / 255
    assert (settings["size"], settings["channels"]) == (16, 1)
    assert settings["mean"][0] == pytest.approx(pixels.mean(), rel=1e-9)
    assert settings["std"][0] == pytest.approx(pixels.std(ddof=1), rel=1e-9)
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["kind"] == "image" and config["model"]["image_size"] == 16


def test_image_size_scales_the_images(tmp_path):
    images, labels = halves(16)
    np.savez(tmp_path / "d.npz", images=images, labels=labels)
    run = tmp_path / "run"
    data = tmp_path / "d.npz"
    result = rnnkit("train", "classify", *CNN, "--image-size", "8", "--data", data, "--val", data,
                    "--out", run, "--max-steps", "1", *COMMON)  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    settings = json.loads((run / "images.json").read_text())
    # the statistics are those of the images scaled to 8 x 8 (bilinear), not of the originals
    scaled = np.stack([np.asarray(Image.fromarray(i).resize((8, 8), Image.BILINEAR)) for i in
                       images]).astype(np.float64) / 255  # fmt: skip
    assert settings["size"] == 8
    assert settings["mean"][0] == pytest.approx(scaled.mean(), rel=1e-9)
    assert settings["std"][0] == pytest.approx(scaled.std(ddof=1), rel=1e-9)
    assert settings["std"][0] != pytest.approx(images.std(ddof=1) / 255, rel=1e-3)


# ------------------------------------------------------------------------------- encoder-from


def write_shapes(folder: Path, count: int = 24) -> Path:
    """16x16 squares and circles: a folder of PNGs per class (for classify) and a caption
    table of the same files (for caption)."""
    rng, shapes = np.random.default_rng(0), ShapeItems()
    rows = ["image,caption"]
    for i in range(count):
        label = i % 2
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(shapes.draw(label, rng)).resize((16, 16)).save(folder / f"{label}/s{i}.png")
        rows.append(f"{label}/s{i}.png,{CAPTIONS[label]}")
    table = folder / "captions.csv"
    table.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return table


@pytest.fixture(scope="module")
def classify_run(tmp_path_factory) -> tuple[Path, Path]:
    """A classify --images cnn run on the shapes, and the shapes' caption table."""
    folder = tmp_path_factory.mktemp("shapes")
    table = write_shapes(folder / "imgs")
    run = folder / "classify"
    result = rnnkit("train", "classify", *CNN, "--data", folder / "imgs", "--out", run,
                    "--epochs", "2", *COMMON)  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    return run, table


def test_caption_takes_the_classify_runs_cnn_frozen(classify_run, tmp_path):
    run, table = classify_run
    out = tmp_path / "caption"
    result = rnnkit("train", "caption", "--data", table, "--out", out, "--encoder-from", run,
                    *CAPTION, "--max-steps", "4", "--lr", "0.01", *COMMON)  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    trained = read_safetensors(run / "model.safetensors")
    captioner = read_safetensors(out / "model.safetensors")
    cnn = sorted(n for n in trained if n.startswith("encoder."))
    # weights and batch-norm statistics alike, after four training steps of the caption run
    assert any("running_mean" in n for n in cnn)
    assert cnn == sorted(n for n in captioner if n.startswith("encoder."))
    for name in cnn:
        torch.testing.assert_close(captioner[name], trained[name], rtol=0, atol=0)
    # the classify run's CNN is not a fresh one: training moved it away from the initial zeros
    assert trained["encoder.stages.1.running_mean"].abs().sum() > 0
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["freeze_encoder"] and config["model"]["encoder_widths"] == [4, 8]
    assert json.loads((out / "images.json").read_text()) == json.loads(
        (run / "images.json").read_text()
    )
    assert config["results"]["step"] == 4


@pytest.mark.parametrize(
    "flags, fragments",
    [
        (["--image-size", "32"], ["read 16-pixel images", "--image-size 16"]),
        (["--channels", "3"], ["1 channel(s)", "--channels is 3"]),
    ],
)
def test_an_incompatible_caption_run_is_refused(classify_run, tmp_path, flags, fragments):
    run, table = classify_run
    out = tmp_path / "caption"
    result = rnnkit("train", "caption", "--data", table, "--out", out, "--encoder-from", run,
                    *CAPTION, *flags, "--max-steps", "1", *COMMON)  # fmt: skip
    assert_refused(result, out, str(run), *fragments)


def test_a_classify_run_without_a_cnn_is_refused(tmp_path):
    images, labels = halves(16)
    np.savez(tmp_path / "d.npz", images=images, labels=labels)
    texts = tmp_path / "texts.csv"
    texts.write_text("text,label\n" + "good day,pos\nbad day,neg\n" * 4, encoding="utf-8")
    runs = {"rows": tmp_path / "rows", "text": tmp_path / "text"}
    for result in (
        rnnkit("train", "classify", "--images", "rows", "--data", tmp_path / "d.npz", "--out",
               runs["rows"], "--hidden", "4", "--max-steps", "1", *COMMON),
        rnnkit("train", "classify", "--data", texts, "--out", runs["text"], "--hidden", "4",
               "--max-steps", "1", *COMMON),
    ):  # fmt: skip
        assert result.exit_code == 0, (result.output, result.exception)
    table = write_shapes(tmp_path / "imgs", count=4)
    for kind, fragment in (("rows", "images read as rows"), ("text", "text data")):
        out = tmp_path / f"caption_{kind}"
        result = rnnkit("train", "caption", "--data", table, "--out", out, "--encoder-from",
                        runs[kind], *CAPTION, "--max-steps", "1", *COMMON)  # fmt: skip
        assert_refused(result, out, str(runs[kind]), fragment, "--images cnn")


@pytest.mark.parametrize(
    "mode, flag",
    [(None, "--image-size"), ("rows", "--image-size"), ("pixels", "--encoder-widths")],
)
def test_cnn_options_are_refused_outside_the_cnn_mode(tmp_path, mode, flag):
    images, labels = halves(8)
    np.savez(tmp_path / "d.npz", images=images, labels=labels)
    out = tmp_path / "run"
    value = "8" if flag == "--image-size" else "4,8"
    images_flag = ["--images", mode] if mode else []
    result = rnnkit("train", "classify", *images_flag, flag, value, "--data", tmp_path / "d.npz",
                    "--out", out, *COMMON)  # fmt: skip
    assert_refused(result, out, f"{flag} applies to --images cnn")
