"""IDX files (the MNIST and Fashion-MNIST format), plain or gzipped, read into NumPy arrays.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions), one
big-endian 32-bit size per dimension, then the values in C order. Only unsigned bytes (type
``0x08``), the type of every MNIST-style image and label file, are read.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from rnnkit.errors import UserError

UNSIGNED_BYTE = 0x08


def read_idx(path: str | Path) -> np.ndarray:
    """The uint8 array of an IDX file (``.gz`` decompressed): images ``(N, H, W)``, labels
    ``(N,)``."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist; check the path.")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:
        raise UserError(f"{path} could not be read ({error}); give an IDX file.") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise UserError(f"{path} is not an IDX file (bad magic number); give an IDX file.")
    if raw[2] != UNSIGNED_BYTE:
        raise UserError(f"{path} holds IDX type {raw[2]:#04x}; only unsigned bytes are read.")
    dims = raw[3]
    header = 4 + 4 * dims
    if dims == 0 or len(raw) < header:
        raise UserError(f"{path} has a truncated IDX header; the file is damaged.")
    shape = struct.unpack(f">{dims}I", raw[4:header])
    if len(raw) - header != int(np.prod(shape)):
        raise UserError(
            f"{path} holds {len(raw) - header} values but its header says {shape}; "
            "the file is damaged."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def idx_labels_path(images: Path) -> Path:
    """The labels file beside an MNIST-style images file (``...-images-idx3-ubyte[.gz]`` ->
    ``...-labels-idx1-ubyte[.gz]``)."""
    return images.with_name(images.name.replace("images-idx3", "labels-idx1"))
