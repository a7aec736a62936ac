"""Video clips from the user's files: frames as uint8, decoded to floats one batch at a time.

Layouts read (``read_clips``):

- ``.npz`` with ``frames`` ``(N, T, H, W)`` or ``(N, T, H, W, C)`` uint8 and optional ``labels``
  ``(N,)`` (never unpickled);
- ``.npy`` of frames in the same shapes, memory-mapped (the file is read as batches need it);
- a folder with one ``.npy`` per clip ``(T, H, W[, C])``, each memory-mapped;
- a folder with one sub-folder of PNG frames per clip (frames in file-name order), decoded once
  into uint8 arrays with Pillow.

A folder may hold ``labels.csv`` with columns ``clip,label`` (clip: the file stem or sub-folder
name). Every clip must have the same frame size and channels; clips may differ in length.

``ClipSet.batch`` turns chosen clips into floats in ``[0, 1]``, ``(B, T, C, H, W)``: the only
float copy of frames the data holds, so training keeps no more than one batch of decoded frames
beside the uint8 array (or the memory map).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.readers import read_npz_with_labels
from rnnkit.errors import UserError

LABELS_FILE = "labels.csv"
IMAGE_SUFFIXES = (".png",)


@dataclass
class ClipSet:
    """Clips of one file or folder.

    ``clips`` is one array ``(N, T, H, W, C)`` (possibly memory-mapped) or a list of ``(T_i, H,
    W, C)`` arrays; ``labels`` one string per clip or None; ``names`` one name per clip.
    """

    clips: np.ndarray | list[np.ndarray]
    labels: list[str] | None
    names: list[str]
    path: Path

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> np.ndarray:
        """Clip ``index`` as uint8 ``(T, H, W, C)`` (a view; nothing decoded)."""
        return self.clips[index]

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of every frame."""
        height, width, channels = self[0].shape[1:]
        return channels, height, width

    def lengths(self) -> list[int]:
        """Frames of each clip."""
        if isinstance(self.clips, np.ndarray):
            return [self.clips.shape[1]] * len(self)
        return [len(clip) for clip in self.clips]

    def batch(self, indices: Sequence[int], steps: int | None = None) -> Tensor:
        """Clips ``indices`` as floats in [0, 1], ``(B, T, C, H, W)``: their first ``steps``
        frames (default: the shortest chosen clip's length)."""
        if steps is None:
            steps = min(len(self[i]) for i in indices)
        if isinstance(self.clips, np.ndarray):
            raw = np.asarray(self.clips[np.asarray(indices), :steps])
        else:
            raw = np.stack([self.clips[i][:steps] for i in indices])
        return torch.from_numpy(raw).permute(0, 1, 4, 2, 3).float().div_(255.0)

    def require_length(self, needed: int, why: str) -> None:
        """``UserError`` naming the first clip shorter than ``needed`` frames."""
        for name, length in zip(self.names, self.lengths(), strict=True):
            if length < needed:
                raise UserError(
                    f"{self.path}: clip {name} has {length} frames but {why} needs {needed}; "
                    "give longer clips."
                )


def read_clips(path: str | Path) -> ClipSet:
    """Read a ``.npz``, an ``.npy`` or a folder of clips (see the module docstring)."""
    path = Path(path)
    if path.is_dir():
        return _read_folder(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist; check the path.")
    if path.suffix == ".npz":
        frames, labels = read_npz_with_labels(path, "frames", "(N, T, H, W)")
    elif path.suffix == ".npy":
        frames, labels = _load_npy(path), None
    else:
        raise UserError(f"{path} is not an .npz, an .npy or a folder of clips; give one of them.")
    frames = _as_clips(frames, path, batched=True)
    if labels is not None and labels.shape != (len(frames),):
        raise UserError(
            f"{path}: 'labels' has shape {labels.shape}; give one label per clip, ({len(frames)},)."
        )
    names = [str(i) for i in range(len(frames))]
    label_list = None if labels is None else [str(v) for v in labels.tolist()]
    return ClipSet(frames, label_list, names, path)


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise UserError(f"{path} is not a readable NumPy .npy file ({error}).") from None


def _as_clips(frames: np.ndarray, path: Path, *, batched: bool) -> np.ndarray:
    """``frames`` checked and viewed as ``([N,] T, H, W, C)`` uint8."""
    lead = 2 if batched else 1
    what = "(N, T, H, W) or (N, T, H, W, C)" if batched else "(T, H, W) or (T, H, W, C)"
    if frames.dtype != np.uint8:
        raise UserError(f"{path} holds {frames.dtype} frames; save them as uint8 (0-255).")
    if frames.ndim == lead + 2:
        frames = frames[..., None]
    if frames.ndim != lead + 3 or 0 in frames.shape or frames.shape[-1] > 4:
        raise UserError(f"{path}: frames have shape {frames.shape}; give {what}.")
    return frames


def _read_folder(folder: Path) -> ClipSet:
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    npy = [p for p in entries if p.suffix == ".npy"]
    dirs = [p for p in entries if p.is_dir()]
    if npy:
        clips = [_as_clips(_load_npy(p), p, batched=False) for p in npy]
        names = [p.stem for p in npy]
    elif dirs:
        clips = [_read_png_clip(d) for d in dirs]
        names = [d.name for d in dirs]
    else:
        raise UserError(
            f"{folder} holds no clips; give one .npy per clip or one folder of PNG frames per clip."
        )
    first = clips[0].shape[1:]
    for name, clip in zip(names, clips, strict=True):
        if clip.shape[1:] != first:
            raise UserError(
                f"{folder}: clip {name} has frames {clip.shape[1:]} but clip {names[0]} has "
                f"{first}; give every clip frames of one size."
            )
    labels_path = folder / LABELS_FILE
    labels = _read_folder_labels(labels_path, names) if labels_path.is_file() else None
    return ClipSet(clips, labels, names, folder)


def _read_png_clip(folder: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UserError(f"{folder} holds no PNG frames; give each clip's frames as PNG files.")
    frames = []
    for file in files:
        try:
            with Image.open(file) as image:
                if image.mode not in ("L", "RGB", "RGBA"):
                    image = image.convert("RGB")
                frame = np.asarray(image, dtype=np.uint8)
        except (OSError, UnidentifiedImageError) as error:
            raise UserError(f"{file} is not a readable PNG image ({error}).") from None
        if frame.ndim == 2:
            frame = frame[..., None]
        if frames and frame.shape != frames[0].shape:
            raise UserError(
                f"{file} is {frame.shape[1]}x{frame.shape[0]} with {frame.shape[2]} channels "
                f"but {files[0].name} is {frames[0].shape[1]}x{frames[0].shape[0]} with "
                f"{frames[0].shape[2]}; give every frame of a clip one size."
            )
        frames.append(frame)
    return np.stack(frames)


def _read_folder_labels(path: Path, names: list[str]) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or not {"clip", "label"} <= set(rows[0]):
        raise UserError(f"{path} needs the columns clip,label; give one row per clip.")
    by_clip = {row["clip"]: row["label"] for row in rows}
    missing = [name for name in names if name not in by_clip]
    if missing:
        raise UserError(f"{path} has no label for clip {missing[0]}; give one row per clip.")
    return [by_clip[name] for name in names]
