"""IDX files (the format of MNIST and Fashion-MNIST), gzipped or not, as NumPy arrays.

An IDX file is a big-endian header (two zero bytes, a type code, the number of dimensions, one
32-bit size per dimension) followed by the values. Only unsigned bytes (type ``0x08``), the type of
MNIST's images and labels, are read.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from rnnkit.errors import UserError

UNSIGNED_BYTE = 0x08


def read_idx(path: str | Path) -> np.ndarray:
    """The ``uint8`` array in an IDX file (``.gz`` read through gzip); ``UserError`` naming the
    file when it is missing or not an unsigned-byte IDX file."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as file:
            data = file.read()
    except (OSError, EOFError) as error:
        raise UserError(
            f"cannot read {path} ({error}); give an IDX file such as MNIST's."
        ) from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != UNSIGNED_BYTE:
        raise UserError(f"{path} is not an IDX file of unsigned bytes; give MNIST-style data.")
    dims = data[3]
    header = 4 + 4 * dims
    shape = struct.unpack(f">{dims}I", data[4:header])
    if len(data) - header != int(np.prod(shape)):
        raise UserError(f"{path} is cut short: its header promises shape {shape}.")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)
