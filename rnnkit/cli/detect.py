"""``rnnkit train detect`` and ``rnnkit detect``: the command line of ``rnnkit.tasks.detect``.

``rnnkit train detect`` is made from ``DetectOptions`` (``rnnkit.cli.train_command``); its flags,
help and panels are declared with the options, in ``rnnkit/tasks/series_common.py`` and
``rnnkit/tasks/detect.py``.
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path
from typing import Annotated

import typer

from rnnkit.cli.app import app
from rnnkit.cli.runs import EncodingFlag, RunDirArgument, to_json
from rnnkit.cli.train_command import register_train_command
from rnnkit.errors import UserError
from rnnkit.tasks import detect

register_train_command(detect.TASK_SPEC)


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
