"""``rnnkit export RUN --format onnx --output model.onnx``: graphs to run without rnnkit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rnnkit.cli.app import app
from rnnkit.cli.runs import RunDirArgument


@app.command()
def export(
    run_dir: RunDirArgument,
    output: Annotated[
        Path,
        typer.Option(
            help="The graph file to write; further graphs, the run's JSON artifacts and a "
            "manifest (<stem>.json) go beside it."
        ),
    ],
    format: Annotated[str, typer.Option(help="The format to write: onnx.")] = "onnx",
) -> None:
    """Export a run's model for runtimes without rnnkit (ONNX: onnxruntime, the state explicit)."""
    from rnnkit.export import export_run

    for path in export_run(run_dir, output, format):
        typer.echo(str(path))
