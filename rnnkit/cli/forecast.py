"""``rnnkit train forecast`` and ``rnnkit forecast``: the command line of ``rnnkit.tasks.forecast``.

The flags describing a series table and the model (``SeriesFlags``) are shared with
``rnnkit/cli/detect.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from rnnkit.cli.app import app, train_app
from rnnkit.cli.options import options_from_context, resumed_options
from rnnkit.cli.runs import RunDirArgument
from rnnkit.cli.training_flags import with_training_flags
from rnnkit.layers import CELL_NAMES
from rnnkit.tasks import forecast
from rnnkit.training import read_run_config

DEFAULTS = forecast.ForecastOptions()
_DATA, _MODEL, _WINDOWS = "Data", "Model", "Windows and evaluation"


def _flag(help_text: str, panel: str = _DATA) -> typer.models.OptionInfo:
    return typer.Option(help=help_text, rich_help_panel=panel)


# the flags every series task shares (types and help; each command gives its own defaults)
DataFlag = Annotated[Path | None, _flag("Table of the series: CSV, TSV, JSONL or Parquet.")]
OutFlag = Annotated[Path | None, _flag("Run directory to write.")]
EncodingFlag = Annotated[str, _flag("Text encoding of the file.")]
TargetFlag = Annotated[str, _flag("Column(s) to model, comma separated.")]
TimeFlag = Annotated[str | None, _flag("Column of timestamps (sorted; gaps are reported).")]
CovariatesFlag = Annotated[str | None, _flag("Known-in-advance input columns, comma separated.")]
CalendarFlag = Annotated[bool, _flag("Add calendar features of the time column as covariates.")]
FillFlag = Annotated[
    str | None, _flag("Fill missing values: ffill or interpolate (default: refuse them).")
]
CellFlag = Annotated[str, _flag(f"Recurrent cell: {', '.join(CELL_NAMES)}.", _MODEL)]
HiddenFlag = Annotated[int, _flag("Hidden units per layer.", _MODEL)]
LayersFlag = Annotated[int, _flag("Stacked recurrent layers.", _MODEL)]
DropoutFlag = Annotated[float, _flag("Dropout between recurrent layers.", _MODEL)]
BatchFlag = Annotated[int, _flag("Windows per batch.", _MODEL)]


@train_app.command("forecast")
@with_training_flags(forecast.ForecastOptions)
def train_forecast(
    ctx: typer.Context,
    data: DataFlag = DEFAULTS.data,
    out: OutFlag = DEFAULTS.out,
    encoding: EncodingFlag = DEFAULTS.encoding,
    target: TargetFlag = DEFAULTS.target,
    time_column: TimeFlag = DEFAULTS.time_column,
    covariates: CovariatesFlag = DEFAULTS.covariates,
    calendar: CalendarFlag = DEFAULTS.calendar,
    series_column: Annotated[
        str | None, _flag("Column naming the series of a long table (one global model).")
    ] = DEFAULTS.series_column,
    fill: FillFlag = DEFAULTS.fill,
    lookback: Annotated[
        int, _flag("Past steps each forecast reads.", _WINDOWS)
    ] = DEFAULTS.lookback,
    horizon: Annotated[int, _flag("Steps forecast at once.", _WINDOWS)] = DEFAULTS.horizon,
    decoder: Annotated[
        Literal["direct", "autoregressive"],
        _flag("All steps from one head, or one step at a time fed back.", _MODEL),
    ] = DEFAULTS.decoder,
    likelihood: Annotated[
        Literal["none", "gaussian"],
        _flag("gaussian: predict a mean and a spread (prediction intervals).", _MODEL),
    ] = DEFAULTS.likelihood,
    relative: Annotated[
        bool, _flag("Forecast the change from the last history value.", _MODEL)
    ] = DEFAULTS.relative,
    quantiles: Annotated[
        str, _flag("Quantile levels of a gaussian run's intervals.", _WINDOWS)
    ] = DEFAULTS.quantiles,
    season: Annotated[
        int | None, _flag("Season length for seasonal naive and MASE (default: 1).", _WINDOWS)
    ] = DEFAULTS.season,
    split: Annotated[
        str, _flag("Train,validation,test fractions or row counts, in time order.", _WINDOWS)
    ] = DEFAULTS.split,
    backtest_stride: Annotated[
        int | None, _flag("Rows between backtest origins (default: --horizon).", _WINDOWS)
    ] = DEFAULTS.backtest_stride,
    cell: CellFlag = DEFAULTS.cell,
    hidden: HiddenFlag = DEFAULTS.hidden,
    layers: LayersFlag = DEFAULTS.layers,
    dropout: DropoutFlag = DEFAULTS.dropout,
    batch_size: BatchFlag = DEFAULTS.batch_size,
) -> None:
    """Train a forecaster on a table of time series; backtests it on the test span."""
    options_class = forecast.ForecastOptions
    previous = resumed_options(options_class, ctx, forecast.TASK)
    options = options_from_context(options_class, ctx, previous)
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
