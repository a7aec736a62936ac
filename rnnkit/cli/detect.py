"""``rnnkit train detect`` and ``rnnkit detect``: the command line of ``rnnkit.tasks.detect``."""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from rnnkit.cli.app import app, train_app
from rnnkit.cli.common_flags import (
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
from rnnkit.cli.runs import RunDirArgument, to_json
from rnnkit.cli.training_flags import with_training_flags
from rnnkit.errors import UserError
from rnnkit.tasks import detect

DEFAULTS = detect.DetectOptions()
_DETECT = "Detection"


@train_app.command("detect")
@with_training_flags(detect.DetectOptions)
def train_detect(
    ctx: typer.Context,
    data: SeriesDataFlag = DEFAULTS.data,
    out: OutFlag = DEFAULTS.out,
    encoding: SeriesEncodingFlag = DEFAULTS.encoding,
    target: TargetFlag = DEFAULTS.target,
    time_column: TimeFlag = DEFAULTS.time_column,
    covariates: CovariatesFlag = DEFAULTS.covariates,
    calendar: CalendarFlag = DEFAULTS.calendar,
    fill: FillFlag = DEFAULTS.fill,
    label_column: Annotated[
        str | None,
        flag_option("0/1 anomaly labels, for metrics only.", _DETECT),
    ] = DEFAULTS.label_column,
    method: Annotated[
        Literal["predict", "reconstruct"],
        flag_option(
            "Score by one-step prediction error or autoencoder reconstruction error.", _DETECT
        ),
    ] = DEFAULTS.method,
    window: Annotated[int, flag_option("Rows per training window.", _DETECT)] = DEFAULTS.window,
    val_fraction: Annotated[
        float,
        flag_option("Last share of rows for validation and threshold.", _DETECT),
    ] = DEFAULTS.val_fraction,
    threshold: Annotated[
        float | None,
        flag_option("Flag scores above this (default: a quantile).", _DETECT),
    ] = DEFAULTS.threshold,
    threshold_quantile: Annotated[
        float,
        flag_option("Quantile of validation scores as threshold.", _DETECT),
    ] = DEFAULTS.threshold_quantile,
    cell: CellFlag = DEFAULTS.cell,
    hidden: HiddenFlag = DEFAULTS.hidden,
    layers: LayersFlag = DEFAULTS.layers,
    dropout: SeriesDropoutFlag = DEFAULTS.dropout,
    batch_size: WindowBatchFlag = DEFAULTS.batch_size,
) -> None:
    """Train an anomaly detector on a (mostly normal) series."""
    options = train_command_options(detect.DetectOptions, ctx, detect.TASK)
    run_dir = detect.train(options)
    typer.echo(f"run written to {run_dir}", err=True)


@app.command("detect")
def detect_command(
    run_dir: RunDirArgument,
    data: Annotated[Path | None, typer.Option(help="Series to score, training columns.")] = None,
    output: Annotated[
        Path | None, typer.Option(help="CSV of score and flag per row (default: stdout).")
    ] = None,
    plot: Annotated[Path | None, typer.Option(help="PNG of the series, flags and scores.")] = None,
    stream: Annotated[
        bool, typer.Option(help="Read CSV rows from stdin; print each row's score as it comes.")
    ] = False,
    encoding: SeriesEncodingFlag = "utf-8",
) -> None:
    """Score every row of a series and flag anomalies (with labels: precision, recall, F1)."""
    if stream:
        if data is not None or output is not None or plot is not None:
            raise UserError(
                "--stream reads stdin and prints to stdout; drop --data/--output/--plot."
            )
        _stream(run_dir)
        return
    if data is None:
        raise UserError("no series to score was given; pass --data FILE, or --stream.")
    frame, metrics = detect.detect(run_dir, data, output=output, plot=plot, encoding=encoding)
    if output is None:
        typer.echo(frame.to_csv(index=False, na_rep=""), nl=False)
    typer.echo(to_json(metrics), err=True)


def _stream(run_dir: Path) -> None:
    """Score stdin's CSV rows one by one; a header line first, then ``key,score,flag`` per row."""
    rows = detect.open_stream(run_dir)
    header_line = sys.stdin.readline()
    if not header_line.strip():
        raise UserError("stdin is empty; send a CSV header line, then one row per line.")
    header = next(csv.reader([header_line]))
    rows.check_header(header)
    key_name = rows.columns.time or "row"
    print(f"{key_name},score,flag", flush=True)
    for line in iter(sys.stdin.readline, ""):
        if not line.strip():
            continue
        values = next(csv.reader([line]))
        if len(values) != len(header):
            raise UserError(
                f"stdin row {rows.row_number + 1} has {len(values)} fields but the header has "
                f"{len(header)}; send complete rows."
            )
        key, score, flag = rows.push(dict(zip(header, values, strict=True)))
        shown = "" if math.isnan(score) else repr(score)
        print(f"{key},{shown},{int(flag)}", flush=True)
