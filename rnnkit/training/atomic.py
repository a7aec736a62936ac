"""Atomic file writes: a reader sees the old file or the new one, never half of one.

The bytes go to a temporary file in the same directory, are flushed to disk (``fsync``), and the
temporary file is renamed over the target (``os.replace`` is atomic on POSIX and Windows). The
directory is then synced so the rename itself survives a power cut. A crash before the rename
leaves the old file untouched (and at worst a stray ``.tmp`` file, cleaned up on error).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp_name = _unused_temp_name(path)
    try:
        # O_EXCL: never follow or reuse another file; mode 0o666 minus the umask, like open().
        handle = os.open(temp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(handle, "wb") as temp_file:
            temp_file.write(data)
            temp_file.flush()
            os.fsync(temp_file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_directory(path.parent)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Replace ``path`` with UTF-8 ``text`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _unused_temp_name(path: Path) -> str:
    return str(path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp"))


def _fsync_directory(directory: Path) -> None:
    # Not every platform lets a directory be opened (Windows); the rename is still atomic there.
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
