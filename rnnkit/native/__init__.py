"""Small C kernels, compiled on first use with the system's C compiler and loaded with ctypes.

Some recurrences spend their time in many small elementwise operations per step (a layer norm,
gate activations, the cell update), each of which torch runs as a separate kernel with its own
dispatch and pass over memory. The C functions here do one step's elementwise work for a whole
batch in one call. They are plain C (no Python or torch headers), so building one takes about a
second with ``cc``; the shared library is cached in ``$RNNKIT_CACHE_DIR`` (default
``~/.cache/rnnkit``) under a name that hashes the source, the compiler and this CPU's features,
since it is built for the CPU it runs on (``-march=native``).

Where no compiler is found or the build fails, ``load`` returns None, warns once, and the callers
use their pure-torch paths, which compute the same function. ``RNNKIT_NATIVE=0`` turns the
kernels off.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

from rnnkit.cpu import cpu_description

_SOURCES = Path(__file__).parent
_FLAGS = ["-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-fPIC", "-shared"]


def enabled() -> bool:
    """Whether native kernels may be used (``RNNKIT_NATIVE`` is not ``0``)."""
    return os.environ.get("RNNKIT_NATIVE", "1") != "0"


def cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rnnkit"
    return Path(os.environ.get("RNNKIT_CACHE_DIR", default))


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


def _build(name: str, compiler: str) -> Path:
    # the C file and the headers beside it (which it may include)
    files = [_SOURCES / f"{name}.c", *sorted(_SOURCES.glob("*.h"))]
    source = b"".join(path.read_bytes() for path in files)
    version = subprocess.run(
        [compiler, "--version"], capture_output=True, text=True, check=True
    ).stdout
    key = hashlib.sha256(
        b"\0".join(
            [source, " ".join(_FLAGS).encode(), version.encode(), cpu_description().encode(),
             platform.machine().encode()]
        )
    ).hexdigest()[:16]  # fmt: skip
    library = cache_dir() / f"{name}-{key}.so"
    if library.exists():
        return library
    library.parent.mkdir(parents=True, exist_ok=True)
    # build beside the target, then rename: processes building at once never see a partial file
    with tempfile.TemporaryDirectory(dir=library.parent) as scratch:
        built = Path(scratch) / library.name
        result = subprocess.run(
            [compiler, *_FLAGS, "-o", str(built), str(_SOURCES / f"{name}.c"), "-lm"],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(result.stderr.strip().splitlines()[-1] if result.stderr else "")
        os.replace(built, library)
    return library


def load(name: str) -> ctypes.CDLL | None:
    """The compiled library ``name`` (``rnnkit/native/NAME.c``), or None where it cannot be had
    or ``RNNKIT_NATIVE=0``."""
    return _load(name) if enabled() else None


def bind(name: str, signatures: dict[str, list[type]]) -> ctypes.CDLL | None:
    """``load(name)`` with each function's argument types set from ``signatures`` (function
    name -> ctypes types, every function returning void); None where the library is not to be
    had or ``RNNKIT_NATIVE=0``. Cheap to call per step: a library's types are set once."""
    library = load(name)
    if library is None or _bound.get(name) is library:
        return library
    for function_name, argtypes in signatures.items():
        function = getattr(library, function_name)
        function.argtypes = argtypes
        function.restype = None
    _bound[name] = library
    return library


#: name -> the loaded library whose functions ``bind`` has typed (a reload is typed again)
_bound: dict[str, ctypes.CDLL] = {}


@functools.cache
def _load(name: str) -> ctypes.CDLL | None:
    compiler = _compiler()
    if compiler is None:
        reason = "no C compiler (cc, gcc or clang) was found"
    else:
        try:
            return ctypes.CDLL(str(_build(name, compiler)))
        except (OSError, RuntimeError, subprocess.SubprocessError) as error:
            reason = f"building it failed ({error})"
    warnings.warn(
        f"rnnkit's native kernel {name!r} is not available: {reason}; using the slower "
        "pure-PyTorch path (same results).",
        RuntimeWarning,
        stacklevel=3,
    )
    return None
