"""``rnnkit train forecast`` and ``rnnkit forecast``: the command line of ``rnnkit.tasks.forecast``.

``rnnkit train forecast`` is made from ``ForecastOptions`` (``rnnkit.cli.train_command``); its
flags, help and panels are declared with the options, in ``rnnkit/tasks/series_common.py`` and
``rnnkit/tasks/forecast.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rnnkit.cli.app import app
from rnnkit.cli.runs import EncodingFlag, RunDirArgument
from rnnkit.cli.train_command import register_train_command
from rnnkit.tasks import forecast

register_train_command(forecast.TASK_SPEC)


@app.command("forecast")
def forecast_command(
    run_dir: RunDirArgument,
    data: Annotated[Path, typer.Option(help="History to continue, with the training columns.")],
    steps: Annotated[
        int | None, typer.Option(help="Steps to forecast (default: the run's horizon).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="CSV file to write (default: print to stdout).")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="PNG of history, forecast and intervals.")
    ] = None,
    encoding: EncodingFlag = "utf-8",
) -> None:
    """Forecast the steps after the end of a history file."""
    table = forecast.forecast(
        run_dir, data, steps=steps, output=output, plot=plot, encoding=encoding
    )
    if output is None:
        typer.echo(table.to_csv(index=False), nl=False)
    else:
        typer.echo(f"{len(table)} forecast rows written to {output}", err=True)
