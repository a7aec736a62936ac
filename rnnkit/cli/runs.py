"""Commands that work on runs of any task: ``rnnkit evaluate``, ``rnnkit info``, ``rnnkit runs``.

They read the task from the run's ``config.json`` and call that task's ``evaluate`` or
``describe`` (``rnnkit.tasks.lifecycle.Task``); ``runs`` tables the run directories under a folder
(``rnnkit.tasks.listing``). Results go to stdout (as JSON with ``--json``), so they can be piped.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from rnnkit.cli.app import app
from rnnkit.errors import UserError
from rnnkit.tasks import open_run
from rnnkit.tasks.listing import RunSummary, list_runs

RunDirArgument = Annotated[
    Path, typer.Argument(help="Run directory written by `rnnkit train`.", show_default=False)
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object to stdout.")]

# The flags every command that uses a run shares (predict, translate, forecast, detect,
# evaluate): inputs come as --text on the command line or as a --data file in the format the run
# was trained on, results of a --data file go to --output.
TextsFlag = Annotated[
    list[str] | None, typer.Option("--text", help="An input on the command line (repeatable).")
]
DataFlag = Annotated[
    Path | None, typer.Option(help="File of inputs, in the format of the training data.")
]
OutputFlag = Annotated[Path | None, typer.Option(help="File to write --data's results to.")]
EncodingFlag = Annotated[str, typer.Option(help="Text encoding of --data.")]
# The decoding flags of the commands that search for an output sequence (translate, caption)
BeamFlag = Annotated[int | None, typer.Option(help="Beam size; 1 is greedy (default: the run's).")]
LengthPenaltyFlag = Annotated[
    float | None, typer.Option(help="GNMT length penalty alpha (default: the run's).")
]
NoRepeatNgramFlag = Annotated[
    int | None,
    typer.Option(help="Forbid repeated n-grams this long; 0: off (default: the run's)."),
]


@app.command()
def evaluate(
    run_dir: RunDirArgument,
    data: Annotated[Path, typer.Option(help="File to evaluate on, in the training format.")],
    output: Annotated[
        Path | None, typer.Option(help="Write per-item results to this file (speech: per file).")
    ] = None,
    encoding: EncodingFlag = "utf-8",
    split: Annotated[
        str | None,
        typer.Option(
            help="Split of a data file that holds splits (music .mat: train, valid, test; "
            "default test)."
        ),
    ] = None,
    images: Annotated[
        Path | None,
        typer.Option(help="Folder of the images a caption table names (default: the table's)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Metrics of a trained run on a file (for lm: loss, perplexity, bpc, tokens)."""
    task, run = open_run(run_dir)
    if split is not None:
        if not task.splits:
            raise UserError(
                f"--split applies to runs of tasks whose data files hold splits, and {run_dir} is "
                f"a {task.name} run; drop --split."
            )
        if split not in task.splits:
            raise UserError(f"--split {split!r} is not known; use one of {', '.join(task.splits)}.")
    if output is not None and "output" not in task.evaluate_accepts:
        raise UserError(
            f"--output does not apply to `rnnkit evaluate` on a {task.name} run; drop it."
        )
    if images is not None and "images" not in task.evaluate_accepts:
        raise UserError(
            f"--images does not apply to `rnnkit evaluate` on a {task.name} run; drop it."
        )
    given = {"output": output, "split": split, "images": images}
    extras = {name: value for name, value in given.items() if value}
    metrics = task.evaluate(run, data, encoding=encoding, **extras)
    if as_json:
        typer.echo(to_json(metrics))
    else:
        for line in _lines(metrics):
            typer.echo(line)


@app.command()
def info(run_dir: RunDirArgument, as_json: JsonFlag = False) -> None:
    """Task, model, size, data and metrics of a run."""
    task, run = open_run(run_dir)
    description = task.describe(run)
    if as_json:
        typer.echo(to_json(description, indent=2))
    else:
        for line in _lines(description):
            typer.echo(line)


@app.command("runs")
def runs_table(
    folder: Annotated[
        Path, typer.Argument(help="Folder to search for run directories (default: here).")
    ] = Path("."),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list, one object per run, to stdout.")
    ] = False,
) -> None:
    """A table of the run directories under a folder: task, created, steps, best metric."""
    summaries = list_runs(folder)
    if as_json:
        typer.echo(to_json([summary.to_dict() for summary in summaries], indent=2))
        return
    if not summaries:
        typer.echo(f"no run directories under {folder}", err=True)
        return
    _print_table(summaries, folder)


def _print_table(summaries: list[RunSummary], folder: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("run", "task", "created (UTC)", "steps", "best", box=None, pad_edge=False)
    for summary in summaries:
        name = str(summary.path.relative_to(folder)) if summary.path != folder else str(folder)
        if summary.problem is not None:
            table.add_row(name, "?", "", "", f"unreadable: {summary.problem}")
            continue
        created = summary.created.strftime("%Y-%m-%d %H:%M") if summary.created else ""
        if summary.best is not None:
            best = f"{summary.monitor} {_format(summary.best)}"
        else:
            best = "(no validation)" if summary.finished else "(not finished)"
        table.add_row(name, summary.task, created, _format(summary.steps or ""), best)
    Console(soft_wrap=True).print(table)


def to_json(value: Any, indent: int | None = None) -> str:
    """Strict JSON: NumPy/torch values as plain numbers and lists, NaN and infinities as null."""
    return json.dumps(_strict(value), indent=indent, allow_nan=False)


def _strict(value: Any) -> Any:
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(item) for item in value]
    return value


def _format(value: Any) -> str:
    """A number shown with enough digits to compare runs; anything else as text."""
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1e6 else f"{value:.4g}"
    return str(value)


def _lines(description: dict[str, Any], indent: str = "") -> list[str]:
    """A nested description as indented ``key: value`` lines."""
    lines = []
    for key, value in description.items():
        if isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            lines.extend(_lines(value, indent + "  "))
        else:
            lines.append(f"{indent}{key}: {_format(value)}")
    return lines
