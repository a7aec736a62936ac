"""``rnnkit train <task>``, made from the task's options dataclass for every task alike.

Each field of the options dataclass becomes one flag: its type from the field's annotation, its
default from the dataclass, its help and ``--help`` panel from the field's ``option(...)``
metadata. A flag is therefore declared once, where the option is, and the command line, a TOML
config file (``--config``) and the Python API cannot drift apart::

    register_train_command(lm.TASK)      # rnnkit train lm --data ... --hidden ... --lr ...

The command builds the options (see ``rnnkit.cli.options``: defaults, or the stored options of
the run ``--resume`` continues, overridden by what the user typed) and calls
``rnnkit.tasks.lifecycle.train``.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Annotated, Any

import typer

from rnnkit.cli.app import train_app
from rnnkit.cli.options import ConfigOption, train_command_options
from rnnkit.tasks import lifecycle
from rnnkit.tasks.options import TRAINING, field_metadata
from rnnkit.training.distributed import is_main_process


def flag_parameters(options_class: type) -> list[inspect.Parameter]:
    """One keyword parameter per field of ``options_class``, task options before training ones."""
    hints = typing.get_type_hints(options_class)
    task_flags, training_flags = [], []
    defaults = options_class()
    for field in dataclasses.fields(options_class):
        metadata = field_metadata(options_class, field.name)
        kind = metadata.get("cli_type") or hints[field.name]
        default = getattr(defaults, field.name)
        if field.name == "time_limit" and default is not None:
            default = f"{default:g}s"  # stored as seconds; the flag takes a duration
        option = typer.Option(help=metadata["help"], rich_help_panel=metadata["panel"])
        parameter = inspect.Parameter(
            field.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=default,
            annotation=Annotated[kind, option],
        )
        (training_flags if metadata["panel"] == TRAINING else task_flags).append(parameter)
    return [*task_flags, *training_flags]


def register_train_command(task: lifecycle.Task) -> None:
    """Add ``rnnkit train <task.name>`` to ``rnnkit train``."""
    options_class = task.options_class

    def command(ctx: typer.Context, **_: Any) -> None:
        options = train_command_options(options_class, ctx, task.name)
        run_dir = lifecycle.train(task, options)
        if is_main_process():  # under torchrun, one report is enough
            typer.echo(f"run written to {run_dir}", err=True)

    context = inspect.Parameter(
        "ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context
    )
    config = inspect.Parameter(
        "config", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ConfigOption
    )
    parameters = [context, *flag_parameters(options_class), config]
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__doc__ = task.summary
    command.options_class = options_class  # type: ignore[attr-defined]  (for tests and tools)
    train_app.command(task.name)(command)
