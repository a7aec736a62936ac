"""The ``rnnkit`` command line: parses options and calls ``rnnkit.tasks``; no model logic here.

Each task's commands live in their own module (``rnnkit/cli/lm.py``, ...), which registers
``rnnkit train <task>`` on ``train_app`` and its own commands (``generate``, ``predict``, ...) on
``app``. Commands shared by every task (``evaluate``, ``info``) live in ``rnnkit/cli/runs.py`` and
dispatch on the task recorded in a run directory. ``UserError`` becomes ``error: <sentence>`` on
stderr with exit code 2 in one place, ``rnnkit.cli.app.UserErrorGroup``.
"""

from __future__ import annotations

# Importing a command module registers its commands on the apps.
from rnnkit.cli import (  # noqa: F401
    caption,
    classify,
    demo,
    detect,
    export,
    forecast,
    lm,
    music,
    runs,
    serve,
    speech,
    tag,
    translate,
    tune,
    video,
)
from rnnkit.cli.app import app, train_app

__all__ = ["app", "main", "train_app"]


def main() -> None:
    """Entry point of the ``rnnkit`` console script and of ``python -m rnnkit``."""
    app(prog_name="rnnkit")
