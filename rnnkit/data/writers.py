"""Writing a command's results: to the ``--output`` file, or to stdout without one."""

from __future__ import annotations

import sys
from pathlib import Path

from rnnkit.errors import UserError


def write_output(output: str | Path | None, text: str) -> None:
    """``text`` to the file ``output`` (UTF-8), or to stdout when ``output`` is None; a
    ``UserError`` naming the file when it cannot be written."""
    if output is None:
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as error:
        raise UserError(f"cannot write {output} ({error.strerror}); check the path.") from None
