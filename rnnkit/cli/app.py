"""The typer applications every command module registers on, and the one place user errors end.

``app`` is the ``rnnkit`` command; ``train_app`` is ``rnnkit train``, on which each task adds
``rnnkit train <task>`` from ``rnnkit/cli/<task>.py``. Both use ``UserErrorGroup``, which turns a
``UserError`` raised anywhere below into ``error: <sentence>`` on stderr and exit code 2, with no
traceback. Any other exception is a bug in rnnkit and keeps its traceback.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from rnnkit.errors import UserError

#: exit code for a problem with what the user gave (the same code click uses for bad usage)
USER_ERROR_EXIT_CODE = 2


class UserErrorGroup(TyperGroup):
    """A command group that reports ``UserError`` as one line on stderr instead of a traceback."""

    def list_commands(self, ctx: Any) -> list[str]:
        """Commands in alphabetical order (not in the order the modules registered them)."""
        return sorted(super().list_commands(ctx))

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(USER_ERROR_EXIT_CODE) from None


app = typer.Typer(
    name="rnnkit",
    cls=UserErrorGroup,
    help="Recurrent neural networks: train on your files; generate, evaluate and inspect runs.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion and --show-completion (bash, zsh, fish, pwsh)
    pretty_exceptions_show_locals=False,
)

train_app = typer.Typer(
    cls=UserErrorGroup,
    help="Train a model for a task; writes a run directory.",
    no_args_is_help=True,
)
app.add_typer(train_app, name="train")
