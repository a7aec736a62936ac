"""``rnnkit tune <task>``: search a task's options with Optuna; ``rnnkit tune --show`` a study.

``rnnkit tune <task>`` takes every flag of ``rnnkit train <task>`` (the same ``flag_parameters``)
plus its own (``--trials``, ``--time-per-trial``, ``--storage``, ``--study``, ``--space``,
``--pruner``). The task's flags set the base run: a flag the user types (or a ``--config`` file
sets) fixes that option, which then leaves the search; the other options of the task's search
space (``search_space`` of its options, changed by ``--space FILE.toml``) are searched. The work
is ``rnnkit.tasks.tuning.tune``; ``--show`` prints a study's trials and writes its plots.
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Annotated, Any

import typer

from rnnkit.cli.app import UserErrorGroup, app
from rnnkit.cli.options import ConfigOption, options_from_context, user_chose
from rnnkit.cli.train_command import flag_parameters
from rnnkit.errors import UserError
from rnnkit.tasks import TASK_MODULES, lifecycle, task_spec, tuning, tuning_study
from rnnkit.tasks.search_space import check_space, read_space_file
from rnnkit.training import parse_duration


class TuneGroup(UserErrorGroup):
    """``rnnkit tune``: an unknown task is one sentence (exit 2), not click's usage error."""

    def get_command(self, ctx: Any, name: str) -> Any:
        command = super().get_command(ctx, name)
        if command is None and not ctx.resilient_parsing:
            raise UserError(
                f"rnnkit tune knows no task {name!r}; use one of {', '.join(TASK_MODULES)}."
            )
        return command


tune_app = typer.Typer(
    cls=TuneGroup,
    help="Search a task's options with Optuna (trials are runs); --show prints a study.",
)
app.add_typer(tune_app, name="tune")

StorageFlag = Annotated[
    str | None,
    typer.Option(
        help="Database URL of the study, e.g. sqlite:///tune.db (default: in OUT.trials)."
    ),
]
StudyFlag = Annotated[str | None, typer.Option(help="Name of the study (default: --out's name).")]


@tune_app.callback(invoke_without_command=True)
def tune_main(
    ctx: typer.Context,
    show: Annotated[
        bool, typer.Option("--show", help="Print the trials of --storage's study and plot them.")
    ] = False,
    storage: Annotated[str | None, typer.Option(help="Database URL of the study (--show).")] = None,
    study: Annotated[
        str | None, typer.Option(help="Study to show (default: the storage's only one).")
    ] = None,
    plots: Annotated[
        Path, typer.Option(help="Folder for --show's plots (history, importance).")
    ] = Path("."),
) -> None:
    """Search a task's options: rnnkit tune TASK --data ... --trials N --out RUN."""
    if ctx.invoked_subcommand is not None:
        if show:
            raise UserError("--show prints a study and takes no task; drop the task or --show.")
        return
    if not show:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    if storage is None:
        raise UserError("--show needs the study's --storage URL, e.g. sqlite:///tune.db.")
    show_study(storage, study, plots)


def show_study(storage: str, name: str | None, plots: Path) -> None:
    """Print the trials table of a study and write its history and importance plots."""
    from rich.console import Console
    from rich.table import Table

    from rnnkit.viz.tuning import plot_importances, plot_tuning_history

    study = tuning_study.load_study(storage, name)
    rows = tuning_study.trial_rows(study)
    monitor = study.user_attrs.get(tuning_study.MONITOR_ATTR, "value")
    names = list(dict.fromkeys(key for row in rows for key in row["params"]))
    table = Table("trial", "state", monitor, "seconds", "validations", *names, box=None)
    best = (
        tuning_study.best_trial(study).number
        if any(r["state"] == "complete" for r in rows)
        else None
    )
    for row in rows:
        state = row["stopped"] or row["state"]
        if row["number"] == best:
            state += " (best)"
        params = [_format(row["params"].get(key, "")) for key in names]
        table.add_row(
            str(row["number"]),
            state,
            _format(row["value"]),
            _format(row["seconds"]),
            str(row["validations"]),
            *params,
        )
    console = Console()
    if not console.is_terminal:  # a file or pipe: the whole table, however wide
        console = Console(width=max(console.width, 300))
    console.print(table)
    plots.mkdir(parents=True, exist_ok=True)
    maximize = study.direction.name == "MAXIMIZE"
    points = [
        (r["number"], r["value"], r["state"])
        for r in rows
        if r["state"] in ("complete", "pruned") and r["value"] is not None
    ]
    history = plot_tuning_history(
        points, plots / f"{study.study_name}-history.png", metric=monitor, maximize=maximize
    )
    importances = tuning_study.importances(study)
    importance = plot_importances(importances, plots / f"{study.study_name}-importance.png")
    if importances:
        shown = ", ".join(f"{key} {value:.2f}" for key, value in importances.items())
        typer.echo(f"importance: {shown}")
    for path in (history, importance):
        if path is not None:
            typer.echo(f"plot written to {path}", err=True)


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# ------------------------------------------------------------------------------------ a task

#: ``rnnkit tune <task>``'s own flags, besides the task's options
TUNE_FLAGS = ("trials", "time_per_trial", "storage", "study", "space", "pruner")


def _tune_parameters() -> list[inspect.Parameter]:
    panel = "Tuning"

    def flag(name: str, default: Any, kind: Any, help: str) -> inspect.Parameter:
        option = typer.Option(help=help, rich_help_panel=panel, show_default=default is not None)
        return inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=default,
            annotation=Annotated[kind, option],
        )

    return [
        flag("trials", ..., int, "Finished trials the study must hold (counted across runs)."),
        flag("time_per_trial", None, str | None, "Time limit of each trial, e.g. 2m."),
        flag("storage", None, str | None, "Database URL of the study (default: OUT.trials/)."),
        flag("study", None, str | None, "Name of the study (default: --out's name)."),
        flag("space", None, Path | None, "TOML file changing the task's search space."),
        flag("pruner", "median", str, "Stops unpromising trials: median, hyperband or none."),
    ]


def search_space(
    task: lifecycle.Task, options: Any, space_file: Path | None, fixed: set[str]
) -> dict[str, Any]:
    """The task's search space, changed by ``space_file``, without the options the user fixed;
    every entry checked against the task's options (``UserError`` naming the file or task)."""
    space = dict(task.options_class.search_space)
    check_space(space, options, f"the search space of {task.name}")
    if space_file is not None:
        changes = read_space_file(space_file, task.options_class)
        check_space(changes, options, f"space file {space_file}")
        space.update(changes)
    return {name: dimension for name, dimension in space.items() if name not in fixed}


def register_tune_command(task: lifecycle.Task) -> None:
    """Add ``rnnkit tune <task.name>``, with the flags of ``rnnkit train <task.name>``."""
    options_class = task.options_class

    def command(ctx: typer.Context, **_: Any) -> None:
        options = options_from_context(options_class, ctx, others=TUNE_FLAGS)
        fields = [f.name for f in dataclasses.fields(options_class)]
        fixed = {name for name in fields if name in ctx.params and user_chose(ctx, name)}
        params = ctx.params
        settings = tuning.TuneSettings(
            trials=params["trials"],
            space=search_space(task, options.validate(), params["space"], fixed),
            storage=params["storage"],
            study=params["study"],
            pruner=params["pruner"],
            time_per_trial=(
                parse_duration(params["time_per_trial"]) if params["time_per_trial"] else None
            ),
        )
        result = tuning.tune(task, options, settings)
        shown = ", ".join(f"{key}={_format(value)}" for key, value in result.best_params.items())
        typer.echo(
            f"best trial {result.best_trial} of {result.finished}: {result.monitor} "
            f"{result.best_value:.6g} ({shown})"
        )
        typer.echo(f"best run: {result.out}")

    context = inspect.Parameter(
        "ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context
    )
    config = inspect.Parameter(
        "config", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ConfigOption
    )
    parameters = [context, *_tune_parameters(), *flag_parameters(options_class), config]
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__doc__ = f"Search the options of `rnnkit train {task.name}` with Optuna."
    command.options_class = options_class  # type: ignore[attr-defined]
    tune_app.command(task.name)(command)


for _name in TASK_MODULES:
    register_tune_command(task_spec(_name))
