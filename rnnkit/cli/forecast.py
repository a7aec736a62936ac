"""``rnnkit train forecast`` and ``rnnkit forecast``: the command line of ``rnnkit.tasks.forecast``.

The flags describing a series table and the model are shared with ``rnnkit/cli/detect.py``; they
live in ``rnnkit/cli/common_flags.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from rnnkit.cli.app import app, train_app
from rnnkit.cli.common_flags import (
    MODEL_PANEL,
    CalendarFlag,
    CellFlag,
    CovariatesFlag,
    FillFlag,
    HiddenFlag,
    LayersFlag,
    OutFlag,
    SeriesDataFlag,
    SeriesDropoutFlag,
    SeriesEncodingFlag,
    TargetFlag,
    TimeFlag,
    WindowBatchFlag,
    flag_option,
)
from rnnkit.cli.options import train_command_options
from rnnkit.cli.runs import RunDirArgument
from rnnkit.cli.training_flags import with_training_flags
from rnnkit.tasks import forecast
from rnnkit.training import read_run_config

DEFAULTS = forecast.ForecastOptions()
_WINDOWS = "Windows and evaluation"


@train_app.command("forecast")
@with_training_flags(forecast.ForecastOptions)
def train_forecast(
    ctx: typer.Context,
    data: SeriesDataFlag = DEFAULTS.data,
    out: OutFlag = DEFAULTS.out,
    encoding: SeriesEncodingFlag = DEFAULTS.encoding,
    target: TargetFlag = DEFAULTS.target,
    time_column: TimeFlag = DEFAULTS.time_column,
    covariates: CovariatesFlag = DEFAULTS.covariates,
    calendar: CalendarFlag = DEFAULTS.calendar,
    series_column: Annotated[
        str | None, flag_option("Column naming the series of a long table (one global model).")
    ] = DEFAULTS.series_column,
    fill: FillFlag = DEFAULTS.fill,
    lookback: Annotated[
        int, flag_option("Past steps each forecast reads.", _WINDOWS)
    ] = DEFAULTS.lookback,
    horizon: Annotated[int, flag_option("Steps forecast at once.", _WINDOWS)] = DEFAULTS.horizon,
    decoder: Annotated[
        Literal["direct", "autoregressive"],
        flag_option("All steps from one head, or one step at a time fed back.", MODEL_PANEL),
    ] = DEFAULTS.decoder,
    likelihood: Annotated[
        Literal["none", "gaussian"],
        flag_option("gaussian: predict a mean and a spread (prediction intervals).", MODEL_PANEL),
    ] = DEFAULTS.likelihood,
    relative: Annotated[
        bool, flag_option("Forecast the change from the last history value.", MODEL_PANEL)
    ] = DEFAULTS.relative,
    quantiles: Annotated[
        str, flag_option("Quantile levels of a gaussian run's intervals.", _WINDOWS)
    ] = DEFAULTS.quantiles,
    season: Annotated[
        int | None, flag_option("Season length for seasonal naive and MASE (default: 1).", _WINDOWS)
    ] = DEFAULTS.season,
    split: Annotated[
        str, flag_option("Train,validation,test fractions or row counts, in time order.", _WINDOWS)
    ] = DEFAULTS.split,
    backtest_stride: Annotated[
        int | None, flag_option("Rows between backtest origins (default: --horizon).", _WINDOWS)
    ] = DEFAULTS.backtest_stride,
    cell: CellFlag = DEFAULTS.cell,
    hidden: HiddenFlag = DEFAULTS.hidden,
    layers: LayersFlag = DEFAULTS.layers,
    dropout: SeriesDropoutFlag = DEFAULTS.dropout,
    batch_size: WindowBatchFlag = DEFAULTS.batch_size,
) -> None:
    """Train a forecaster on a table of time series; backtests it on the test span."""
    options = train_command_options(forecast.ForecastOptions, ctx, forecast.TASK)
    run_dir = forecast.train(options)
    test = read_run_config(run_dir)["results"]["test"]
    typer.echo(
        f"test MASE {test['mase']:.3f} (naive {test['naive_mase']:.3f}, seasonal naive "
        f"{test['seasonal_naive_mase']:.3f}); run written to {run_dir}",
        err=True,
    )


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
    encoding: SeriesEncodingFlag = "utf-8",
) -> None:
    """Forecast the steps after the end of a history file."""
    table = forecast.forecast(
        run_dir, data, steps=steps, output=output, plot=plot, encoding=encoding
    )
    if output is None:
        typer.echo(table.to_csv(index=False), nl=False)
    else:
        typer.echo(f"{len(table)} forecast rows written to {output}", err=True)
