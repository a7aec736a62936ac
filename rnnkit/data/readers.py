"""Readers for the user's files: each checks the file and explains any fault in one sentence.

Every reader goes through ``read_bytes`` (the file exists, is a regular file, is not empty) and
``decode_bytes`` (the bytes are valid in the encoding), so readers for other formats (csv, tsv,
jsonl) share the same messages and only add what their format needs on top of the decoded text.
"""

from __future__ import annotations

import codecs
import json
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from rnnkit.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

Built = TypeVar("Built")


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """Return the whole text of ``path`` decoded with ``encoding``.

    Raises ``UserError`` for a missing file, a directory, an empty file, an unknown encoding, or
    bytes that are not valid in the encoding (naming the byte offset and suggesting ``--encoding``).
    A UTF-8 byte-order mark at the start is dropped.
    """
    path = Path(path)
    data = read_bytes(path)
    text = decode_bytes(data, path, encoding)
    if not text.strip():
        raise UserError(f"{path} contains only whitespace; give a file with some text in it.")
    return text


def read_bytes(path: Path) -> bytes:
    """The raw bytes of a non-empty regular file, or a ``UserError`` saying what is wrong."""
    if not path.exists():
        raise UserError(f"{path} does not exist; check the path.")
    if path.is_dir():
        raise UserError(f"{path} is a directory; give the path of a file inside it.")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UserError(
            f"{path} cannot be read ({error.strerror}); check the file and its permissions."
        ) from None
    if not data:
        raise UserError(f"{path} is empty; give a file with some data in it.")
    return data


def decode_bytes(data: bytes, path: Path, encoding: str) -> str:
    """Decode ``data`` or raise a ``UserError`` naming the first bad byte offset."""
    try:
        codec = codecs.lookup(encoding)
    except LookupError:
        raise UserError(
            f"unknown encoding {encoding!r} for {path}; name one Python knows, e.g. latin-1."
        ) from None
    if codec.name == "utf-8" and data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return codec.decode(data)[0]
    except UnicodeDecodeError as error:
        raise UserError(
            f"{path} is not valid {encoding}: byte 0x{data[error.start]:02x} at offset "
            f"{error.start} cannot be decoded; pass the file's encoding with --encoding "
            f"(for example --encoding latin-1)."
        ) from None


def read_toml_file(path: Path, what: str, flag: str) -> dict[str, Any]:
    """The table of the TOML file ``path``; ``UserError`` naming it (as ``what``, e.g. "config
    file") when it is missing, not TOML or not UTF-8, and the flag ``flag`` that gave it."""
    if not path.is_file():
        raise UserError(f"{what} {path} does not exist; check the path given to {flag}.")
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{what} {path} is not valid TOML ({error}); fix that line.") from None
    except UnicodeDecodeError:
        raise UserError(f"{what} {path} is not UTF-8 text; save it as UTF-8.") from None


def read_json_file(
    path: str | Path,
    build: Callable[[dict[str, Any]], Built],
    what: str,
    errors: tuple[type[BaseException], ...] = (ValueError, KeyError, TypeError),
) -> Built:
    """``build(the JSON object in path)``: how a run's tokenizer, vocabulary or scaler is read.

    ``UserError`` naming ``path`` when it is missing, not a JSON object, or ``build`` refuses it
    (raises one of ``errors``); ``what`` names the kind of file in the message.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist; give the run directory that training wrote.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return build(data)
    except (OSError, UnicodeDecodeError, *errors) as error:
        raise UserError(
            f"{path} is not a readable {what} ({error}); train the run again."
        ) from None


def read_npz_with_labels(
    path: Path, name: str, layout: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """The array ``name`` of a NumPy ``.npz`` file and its optional ``labels`` array.

    ``layout`` names the expected shape in the message for a file without ``name``, such as
    ``"(N, T, H, W)"``. Nothing is unpickled.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            if name not in archive.files:
                raise UserError(
                    f"{path} has no array '{name}'; its arrays are {sorted(archive.files)}, so "
                    f"save them as {name} with shape {layout}."
                )
            values = archive[name]
            labels = archive["labels"] if "labels" in archive.files else None
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise UserError(
            f"{path} is not a readable NumPy .npz file ({error}); save it with numpy.savez."
        ) from None
    return values, labels
