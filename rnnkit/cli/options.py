"""One options dataclass per task, filled from defaults, a TOML file and the command line.

Each ``rnnkit train <task>`` command declares its flags with typer, with defaults taken from the
task's options dataclass, plus ``--config FILE.toml`` (see ``ConfigOption``). The config file is
read first, by an eager option callback, into click's ``default_map``: its values then pass through
the same parsing and checks as typed flags, and any flag typed on the command line wins over them.
``options_from_context`` turns the parsed values into the dataclass.

A config file is flat, one key per option, spelled like the flag with ``-`` or ``_``; paths in
it are relative to the current directory, as on the command line::

    data = "input.txt"
    hidden = 256
    time-limit = "10m"
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Collection
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from rnnkit.data.readers import read_toml_file
from rnnkit.errors import UserError
from rnnkit.tasks.lifecycle import Run
from rnnkit.training.rundir import CONFIG_FILE

Options = TypeVar("Options")

#: names of click's parameter sources that mean "the user asked for this value", not "default"
_CHOSEN_BY_USER = {"COMMANDLINE", "ENVIRONMENT", "DEFAULT_MAP"}


def read_config_file(path: Path) -> dict[str, Any]:
    """The key/value pairs of a flat TOML config file, keys spelled with ``_`` instead of ``-``."""
    table = read_toml_file(path, "config file", "--config")
    for key, value in table.items():
        if isinstance(value, dict):
            raise UserError(
                f"config file {path} has a table [{key}]; write its options as plain "
                f"top-level keys, one per option."
            )
    return {key.replace("-", "_"): value for key, value in table.items()}


def _load_config_into_defaults(ctx: typer.Context, param: Any, path: Path | None) -> Path | None:
    """Eager callback of ``--config``: check the file's keys and values, then make them defaults."""
    if path is None or ctx.resilient_parsing:
        return path
    values = read_config_file(path)
    params = {p.name: p for p in ctx.command.params if p.name not in {"config", "help"}}
    for key, value in values.items():
        if key not in params:
            raise UserError(
                f"config file {path} has an unknown option {key!r}{_suggest(key, params)}."
            )
        try:
            params[key].process_value(ctx, value)
        except Exception as error:
            # typer reports a bad value with BadParameter or UsageError, both carrying .message
            reason = getattr(error, "message", None)
            if reason is None:
                raise
            raise UserError(
                f"config file {path} has an invalid value {value!r} for {key!r} ({reason})."
            ) from None
    ctx.default_map = {**(ctx.default_map or {}), **values}
    return path


def _suggest(key: str, known: dict[str, Any]) -> str:
    """A 'did you mean' hint for a misspelt option, or a pointer to --help."""
    close = difflib.get_close_matches(key, list(known), n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return "; run the command with --help to see the options"


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        is_eager=True,
        callback=_load_config_into_defaults,
        help="TOML file of options (keys as the flags); flags on the command line win.",
        show_default=False,
    ),
]


def options_from_context(
    options_class: type[Options],
    ctx: typer.Context,
    previous: Options | None = None,
    *,
    others: Collection[str] = (),
) -> Options:
    """Build ``options_class`` from the values click parsed for the current command.

    ``previous``, when given (the options stored in a run being resumed), replaces the defaults:
    only what the user chose (on the command line or in the config file) overrides it, so
    ``--resume`` needs no repeat of the first run's flags. ``others`` are the command's own
    parameters that are no options (``rnnkit tune``'s ``--trials``...).
    """
    field_names = [f.name for f in dataclasses.fields(options_class)]
    stray = set(ctx.params) - set(field_names) - {"config", *others}
    if stray:
        raise TypeError(f"{options_class.__name__} has no fields for the options {sorted(stray)}")
    chosen = {
        name: ctx.params[name]
        for name in field_names
        if name in ctx.params and user_chose(ctx, name)
    }
    if previous is not None:
        return dataclasses.replace(previous, **chosen)
    defaults = {name: ctx.params[name] for name in field_names if name in ctx.params}
    return options_class(**{**defaults, **chosen})


def train_command_options(options_class: type[Options], ctx: typer.Context, task: str) -> Options:
    """The options of a ``rnnkit train <task>`` command: defaults, or a resumed run's options,
    overridden by what the user chose (see ``options_from_context`` and ``resumed_options``)."""
    return options_from_context(options_class, ctx, resumed_options(options_class, ctx, task))


def user_chose(ctx: typer.Context, name: str) -> bool:
    """Whether the option ``name`` came from the command line or the config file."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name in _CHOSEN_BY_USER


def resumed_options(options_class: type[Options], ctx: typer.Context, task: str) -> Options | None:
    """The options stored in the run that ``--resume`` continues, or None when not resuming.

    Passed as ``previous`` to ``options_from_context``, they let ``--resume --out DIR`` continue a
    run without repeating its flags; flags that are repeated are checked against them by the task.
    """
    if not ctx.params.get("resume") or ctx.params.get("out") is None:
        return None
    run_dir = Path(ctx.params["out"])
    if not (run_dir / CONFIG_FILE).is_file():
        return None  # nothing stored yet: the task explains that there is nothing to resume
    return Run.open(run_dir, task).options(options_class)  # type: ignore[type-var]
