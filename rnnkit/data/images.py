"""Labelled images read as sequences (row by row or pixel by pixel), or whole for a CNN.

An image ``(H, W, C)`` becomes a sequence ``(H, W * C)`` (``rows``: one step per row, as in the
row-by-row MNIST task) or ``(H * W, C)`` (``pixels``: one step per pixel in reading order, the
"sequential MNIST" of Le et al. 2015). Pixel values are scaled to [0, 1].
``read_labelled_image_arrays`` keeps the images whole, ``uint8 (N, H, W, C)``, for
``classify --images cnn`` (which sizes and normalises them as its run says).

Layouts read (``read_labelled_images``):

- an IDX images file (``*-images-idx3-ubyte[.gz]``, MNIST and Fashion-MNIST), its labels from the
  ``*-labels-idx1-ubyte[.gz]`` file beside it;
- a ``.npz`` with ``images`` ``(N, H, W[, C])`` uint8 and optional ``labels`` ``(N,)``;
- a folder with one sub-folder of PNG images per class (the sub-folder's name is the label), or
  a folder of PNG images without labels (to predict on).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rnnkit.data.idx import idx_labels_path, read_idx
from rnnkit.data.labelled import LabelledData
from rnnkit.data.numeric import NumericSequences
from rnnkit.data.readers import read_npz_with_labels
from rnnkit.errors import UserError

SCANS = ("rows", "pixels")


def read_labelled_images(path: Path, scan: str, *, need_labels: bool) -> LabelledData:
    """Images of ``path`` as numeric sequences (``scan``: ``rows`` or ``pixels``)."""
    if scan not in SCANS:
        raise ValueError(f"scan must be one of {SCANS}, got {scan!r}")
    images, labels, names = read_images(path, need_labels=need_labels)
    count, height, width, channels = images.shape
    values = torch.from_numpy(images.astype(np.float32)).div_(255.0)
    if scan == "rows":
        steps = values.reshape(count, height, width * channels)
        features = [f"column{j}" for j in range(width * channels)]
    else:
        steps = values.reshape(count, height * width, channels)
        features = [f"channel{j}" for j in range(channels)]
    sequences = NumericSequences(list(steps.unbind(0)), labels, names, features)
    return LabelledData(None, sequences, labels, names, path)


def read_labelled_image_arrays(path: Path, *, need_labels: bool) -> LabelledData:
    """Images of ``path`` whole: ``LabelledData`` whose ``images`` are ``uint8 (N, H, W, C)``,
    ``C`` 1 (grey) or 3 (RGB); ``UserError`` for other channel counts."""
    images, labels, names = read_images(path, need_labels=need_labels)
    if images.shape[-1] not in (1, 3):
        raise UserError(
            f"{path} holds images of {images.shape[-1]} channels; give grey (1) or RGB (3) ones."
        )
    return LabelledData(None, None, labels, names, path, images=images)


def read_images(path: Path, *, need_labels: bool) -> tuple[np.ndarray, list[str] | None, list[str]]:
    """``(images (N, H, W, C) uint8, labels or None, names)`` of an IDX file, ``.npz`` or folder."""
    path = Path(path)
    if path.is_dir():
        return _read_folder(path, need_labels)
    if not path.is_file():
        raise UserError(f"{path} does not exist; check the path.")
    if path.suffix == ".npz":
        images, labels = _read_npz(path)
    else:
        images = read_idx(path)
        labels_path = idx_labels_path(path)
        labels = read_idx(labels_path) if labels_path.is_file() and labels_path != path else None
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or 0 in images.shape:
        raise UserError(f"{path} holds an array of shape {images.shape}; give (N, H, W[, C]).")
    if labels is None and need_labels:
        raise UserError(
            f"{path} has no labels; give an .npz with labels, or the IDX labels file beside it."
        )
    if labels is not None and labels.shape != (len(images),):
        raise UserError(f"{path}: {labels.shape[0]} labels for {len(images)} images.")
    names = [str(i) for i in range(len(images))]
    return images, None if labels is None else [str(v) for v in labels.tolist()], names


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    images, labels = read_npz_with_labels(path, "images", "(N, H, W)")
    if images.dtype != np.uint8:
        raise UserError(f"{path} holds {images.dtype} images; save them as uint8 (0-255).")
    return images, labels


def _read_folder(folder: Path, need_labels: bool) -> tuple[np.ndarray, list[str] | None, list[str]]:
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes:
        files = [(f, c.name) for c in classes for f in sorted(c.glob("*.png"))]
    else:
        files = [(f, None) for f in sorted(folder.glob("*.png"))]
        if files and need_labels:
            raise UserError(
                f"{folder} holds PNG images but no class folders; put each class's images in "
                "a folder named after the class."
            )
    if not files:
        raise UserError(f"{folder} holds no PNG images; give one folder of PNGs per class.")
    from PIL import Image, UnidentifiedImageError

    images = []
    for file, _ in files:
        try:
            with Image.open(file) as image:
                array = np.asarray(image if image.mode in ("L", "RGB") else image.convert("RGB"))
        except (OSError, UnidentifiedImageError) as error:
            raise UserError(f"{file} is not a readable PNG image ({error}).") from None
        array = array[..., None] if array.ndim == 2 else array
        if images and array.shape != images[0].shape:
            raise UserError(
                f"{file} has shape {array.shape} but {files[0][0]} has {images[0].shape}; give "
                "images of one size."
            )
        images.append(array)
    labels = [label for _, label in files] if classes else None
    names = [str(file.relative_to(folder)) for file, _ in files]
    return np.stack(images).astype(np.uint8), labels, names
