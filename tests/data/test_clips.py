"""Clips from .npz, .npy (memory-mapped) and folders, checked against the arrays written, and
the refusals of bad clip files."""

import numpy as np
import pytest
import torch
from PIL import Image

from rnnkit.data.clips import read_clips
from rnnkit.errors import UserError


def _frames(n=3, t=5, h=6, w=7, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, t, h, w), dtype=np.uint8)


def test_npz_frames_and_labels_batch_as_floats(tmp_path):
    frames = _frames()
    np.savez(tmp_path / "c.npz", frames=frames, labels=np.array(["a", "b", "a"]))
    clips = read_clips(tmp_path / "c.npz")
    assert clips.labels == ["a", "b", "a"] and clips.frame_shape == (1, 6, 7)
    batch = clips.batch([2, 0], steps=4)
    expected = torch.from_numpy(frames[[2, 0], :4].astype(np.float32) / 255.0).unsqueeze(2)
    torch.testing.assert_close(batch, expected)


def test_npy_is_memory_mapped(tmp_path):
    frames = _frames(t=4, h=5, w=5)[..., None].repeat(3, axis=-1)  # (N, T, H, W, 3)
    np.save(tmp_path / "c.npy", frames)
    clips = read_clips(tmp_path / "c.npy")
    assert isinstance(clips.clips, np.memmap)
    assert clips.labels is None and clips.frame_shape == (3, 5, 5)
    torch.testing.assert_close(
        clips.batch([1]), torch.from_numpy(frames[[1]] / 255.0).float().permute(0, 1, 4, 2, 3)
    )


def test_folder_of_png_clips_with_labels(tmp_path):
    frames = _frames(n=2, t=3)
    for c in range(2):
        clip = tmp_path / f"clip{c}"
        clip.mkdir()
        for t in range(3):
            Image.fromarray(frames[c, t]).save(clip / f"{t:03d}.png")
    (tmp_path / "labels.csv").write_text("clip,label\nclip1,dog\nclip0,cat\n")
    clips = read_clips(tmp_path)
    assert clips.names == ["clip0", "clip1"] and clips.labels == ["cat", "dog"]
    np.testing.assert_array_equal(clips[1][..., 0], frames[1])


def test_folder_of_npy_clips_of_different_lengths(tmp_path):
    frames = _frames(n=2, t=6)
    np.save(tmp_path / "a.npy", frames[0])
    np.save(tmp_path / "b.npy", frames[1, :4])
    clips = read_clips(tmp_path)
    assert clips.lengths() == [6, 4]
    with pytest.raises(UserError, match="clip b has 4 frames"):
        clips.require_length(5, "the model")


def test_bad_clip_files_are_refused_in_one_sentence(tmp_path):
    np.savez(tmp_path / "x.npz", x=_frames())
    with pytest.raises(UserError, match="no array 'frames'"):
        read_clips(tmp_path / "x.npz")
    np.savez(tmp_path / "f.npz", frames=_frames().astype(np.float32))
    with pytest.raises(UserError, match="uint8"):
        read_clips(tmp_path / "f.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no clips"):
        read_clips(tmp_path / "empty")
    clip = tmp_path / "mixed" / "c0"
    clip.mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(clip / "0.png")
    Image.fromarray(np.zeros((8, 9), np.uint8)).save(clip / "1.png")
    with pytest.raises(UserError, match="1.png is 9x8"):
        read_clips(tmp_path / "mixed")
