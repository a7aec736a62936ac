"""The one exception type for problems with what the user gave us.

A ``UserError`` carries one sentence that names the thing (file, column, option, run directory)
and the fix. Only ``rnnkit.cli`` turns it into ``error: ...`` on stderr with exit code 2; everywhere
else it propagates like any exception. Misuse of the Python API raises ValueError or TypeError.
A missing optional dependency is the user's to install: ``require_extra`` says how.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class UserError(Exception):
    """A problem with the user's input, explained in one sentence."""


def require_extra(module: str, extra: str, purpose: str) -> ModuleType:
    """Import the optional dependency ``module``, or raise a ``UserError`` saying that
    ``purpose`` needs it and how to install it (``pip install 'rnnkit[extra]'``)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise UserError(
            f"{purpose} needs the {package} package; pip install 'rnnkit[{extra}]'."
        ) from None
