"""Fashion-MNIST (Xiao et al. 2017) from its four IDX files: 28x28 grey images, 10 classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnnkit.data.idx import read_idx
from rnnkit.errors import UserError

CLASSES = (
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle-boot",
)
FILES = {"train": "train", "test": "t10k"}


def read_fashion_mnist(folder: str | Path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 28, 28)`` uint8 and labels ``(N,)`` of ``split`` (``train``: 60,000,
    ``test``: 10,000) from ``folder``, which holds the ``*-idx?-ubyte[.gz]`` files."""
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = Path(folder)
    found = []
    for kind in ("images-idx3", "labels-idx1"):
        stem = f"{FILES[split]}-{kind}-ubyte"
        candidates = [folder / f"{stem}.gz", folder / stem]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise UserError(f"{folder} holds no {stem}[.gz]; give the Fashion-MNIST folder.")
        found.append(read_idx(path))
    images, labels = found
    if images.ndim != 3 or labels.shape != (len(images),):
        raise UserError(f"{folder}: the {split} images and labels do not match in number.")
    return images, labels
