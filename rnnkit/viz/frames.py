"""Frames as pictures with Pillow: a PNG strip (one row per sequence of frames) and an animated
GIF (the rows side by side, frame after frame)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

GAP = 2  # pixels between frames and rows, drawn mid-grey


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Frames ``(T, C, H, W)`` in [0, 1] (float) or uint8 -> ``(T, H, W, C)`` uint8."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        frames = np.clip(np.rint(frames * 255.0), 0, 255).astype(np.uint8)
    return frames.transpose(0, 2, 3, 1)


def _image(array: np.ndarray):
    from PIL import Image

    return Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)


def frame_strip(rows: Sequence[np.ndarray], path: str | Path) -> Path:
    """Write ``rows`` (each ``(T_i, H, W, C)`` uint8) as one PNG, a row per sequence, frames
    left to right aligned at the right edge (so future frames line up under the truth's)."""
    height, width, channels = rows[0].shape[1:]
    columns = max(len(r) for r in rows)
    canvas = np.full(
        (len(rows) * (height + GAP) - GAP, columns * (width + GAP) - GAP, channels),
        128,
        dtype=np.uint8,
    )
    for r, row in enumerate(rows):
        offset = columns - len(row)
        for t, frame in enumerate(row):
            top, left = r * (height + GAP), (offset + t) * (width + GAP)
            canvas[top : top + height, left : left + width] = frame
    path = Path(path)
    _image(canvas).save(path)
    return path


def frame_gif(rows: Sequence[np.ndarray], path: str | Path, *, ms_per_frame: int = 150) -> Path:
    """Write an animated GIF whose frame ``t`` shows frame ``t`` of every row side by side
    (rows of equal length ``T``, each ``(T, H, W, C)`` uint8)."""
    height, width, channels = rows[0].shape[1:]
    images = []
    for t in range(len(rows[0])):
        canvas = np.full((height, len(rows) * (width + GAP) - GAP, channels), 128, dtype=np.uint8)
        for r, row in enumerate(rows):
            canvas[:, r * (width + GAP) : r * (width + GAP) + width] = row[t]
        images.append(_image(canvas))
    path = Path(path)
    images[0].save(path, save_all=True, append_images=images[1:], duration=ms_per_frame, loop=0)
    return path
