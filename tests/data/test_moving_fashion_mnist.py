"""Moving Fashion-MNIST: bouncing paths checked analytically, seeds, and the generator program
(on the shared Fashion-MNIST files where present)."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from rnnkit.data.idx import read_idx
from rnnkit.data.moving_fashion_mnist import item_paths, main, moving_clips
from rnnkit.errors import UserError

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "fashion_mnist"


def test_paths_stay_inside_and_move_at_constant_speed():
    rng = np.random.default_rng(0)
    paths = item_paths(50, 40, room=36, speed=3.0, rng=rng)
    assert paths.min() >= 0 and paths.max() <= 36
    step = np.abs(np.diff(paths, axis=1))  # per axis, a bounce reflects: |step| is unchanged
    np.testing.assert_allclose(np.sqrt((step**2).sum(-1)) <= 3.0 + 1e-9, True)
    free = (paths[:, 1:-1] > 3) & (paths[:, 1:-1] < 33)  # far from the walls: straight lines
    second = np.diff(paths, n=2, axis=1)
    assert np.abs(second[free.all(-1)]).max() < 1e-9


def test_clips_draw_each_item_at_its_place_and_seed_fixes_them():
    images = np.zeros((3, 4, 4), np.uint8)
    images[:, 1:3, 1:3] = [[[10]], [[20]], [[30]]]
    a = moving_clips(images, 4, steps=5, size=12, items=2, seed=7)
    b = moving_clips(images, 4, steps=5, size=12, items=2, seed=7)
    c = moving_clips(images, 4, steps=5, size=12, items=2, seed=8)
    np.testing.assert_array_equal(a.frames, b.frames)
    assert not np.array_equal(a.frames, c.frames)
    # each frame holds the brighter item's value where items overlap, and 4 pixels per item
    for n in range(4):
        values = {int(images[k, 1, 1]) for k in a.classes[n]}
        for t in range(5):
            lit = set(np.unique(a.frames[n, t]).tolist()) - {0}
            assert lit <= values and max(lit) == max(values)


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_idx_round_trip_and_damage(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "x-images-idx3-ubyte.gz", images)
    np.testing.assert_array_equal(read_idx(tmp_path / "x-images-idx3-ubyte.gz"), images)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x05abc")
    with pytest.raises(UserError, match="magic"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    with pytest.raises(UserError, match="damaged"):
        read_idx(tmp_path / "short")


def test_program_writes_frames_and_labels(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.array([0, 1, 2, 3, 9]))
    out = tmp_path / "m.npz"
    argv = ["--source", str(tmp_path), "--out", str(out), "--clips", "3", "--items", "1"]
    assert main([*argv, "--labels"]) == 0
    with np.load(out) as archive:
        assert archive["frames"].shape == (3, 20, 64, 64)
        assert set(archive["labels"].tolist()) <= {"t-shirt", "trouser", "pullover", "dress",
                                                   "ankle-boot"}  # fmt: skip
    assert main(["--source", str(tmp_path / "nothing"), "--out", str(out)]) == 2


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared Fashion-MNIST files are absent")
def test_shared_fashion_mnist_reads():
    from rnnkit.data.fashion_mnist import read_fashion_mnist

    images, labels = read_fashion_mnist(SHARED, "test")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [1000] * 10  # the test split is balanced
