"""``rnnkit train lm`` and ``rnnkit generate``: the command line of ``rnnkit.tasks.lm``."""

from __future__ import annotations

from typing import Annotated

import typer

from rnnkit.cli.app import app
from rnnkit.cli.runs import RunDirArgument
from rnnkit.cli.train_command import register_train_command
from rnnkit.tasks import lm

register_train_command(lm.TASK_SPEC)


@app.command()
def generate(
    run_dir: RunDirArgument,
    prime: Annotated[str, typer.Option(help="Text to continue.")] = "",
    length: Annotated[int, typer.Option(help="Tokens to generate.")] = 500,
    temperature: Annotated[float, typer.Option(help="Sampling temperature; 0 is greedy.")] = 1.0,
    top_k: Annotated[int, typer.Option(help="Sample among the k likeliest tokens; 0: all.")] = 0,
    top_p: Annotated[
        float, typer.Option(help="Sample within this much probability mass; 1: all.")
    ] = 1.0,
    seed: Annotated[
        int | None, typer.Option(help="Seed for a reproducible sample (default: random).")
    ] = None,
) -> None:
    """Generate text from a language-model run, streamed to stdout as it is sampled."""
    pieces = lm.generate(run_dir, prime, length, temperature, top_k, top_p, seed)
    typer.echo(prime, nl=False)
    for piece in pieces:
        typer.echo(piece, nl=False)
    typer.echo()
