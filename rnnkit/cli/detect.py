"""``rnnkit train detect`` and ``rnnkit detect``: the command line of ``rnnkit.tasks.detect``."""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from rnnkit.cli.app import app, train_app
from rnnkit.cli.forecast import (
    BatchFlag,
    CalendarFlag,
    CellFlag,
    CovariatesFlag,
    DataFlag,
    DropoutFlag,
    EncodingFlag,
    FillFlag,
    HiddenFlag,
    LayersFlag,
    OutFlag,
    TargetFlag,
    TimeFlag,
)
from rnnkit.cli.options import options_from_context, resumed_options
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
    data: DataFlag = DEFAULTS.data,
    out: OutFlag = DEFAULTS.out,
    encoding: EncodingFlag = DEFAULTS.encoding,
    target: TargetFlag = DEFAULTS.target,
    time_column: TimeFlag = DEFAULTS.time_column,
    covariates: CovariatesFlag = DEFAULTS.covariates,
    calendar: CalendarFlag = DEFAULTS.calendar,
    fill: FillFlag = DEFAULTS.fill,
    label_column: Annotated[
        str | None,
        typer.Option(help="0/1 anomaly labels, for metrics only.", rich_help_panel=_DETECT),
    ] = DEFAULTS.label_column,
    method: Annotated[
        Literal["predict", "reconstruct"],
        typer.Option(
            help="Score by one-step prediction error or autoencoder reconstruction error.",
            rich_help_panel=_DETECT,
        ),
    ] = DEFAULTS.method,
    window: Annotated[
        int, typer.Option(help="Rows per training window.", rich_help_panel=_DETECT)
    ] = DEFAULTS.window,
    val_fraction: Annotated[
        float,
        typer.Option(
            help="Last share of rows for validation and threshold.", rich_help_panel=_DETECT
        ),
    ] = DEFAULTS.val_fraction,
    threshold: Annotated[
        float | None,
        typer.Option(help="Flag scores above this (default: a quantile).", rich_help_panel=_DETECT),
    ] = DEFAULTS.threshold,
    threshold_quantile: Annotated[
        float,
        typer.Option(help="Quantile of validation scores as threshold.", rich_help_panel=_DETECT),
    ] = DEFAULTS.threshold_quantile,
    cell: CellFlag = DEFAULTS.cell,
    hidden: HiddenFlag = DEFAULTS.hidden,
    layers: LayersFlag = DEFAULTS.layers,
    dropout: DropoutFlag = DEFAULTS.dropout,
    batch_size: BatchFlag = DEFAULTS.batch_size,
) -> None:
    """Train an anomaly detector on a (mostly normal) series."""
    previous = resumed_options(detect.DetectOptions, ctx, detect.TASK)
    options = options_from_context(detect.DetectOptions, ctx, previous)
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
    encoding: EncodingFlag = "utf-8",
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
