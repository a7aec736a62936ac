"""``rnnkit train lm`` and ``rnnkit generate``: the command line of ``rnnkit.tasks.lm``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import typer

from rnnkit.cli.app import app, train_app
from rnnkit.cli.options import options_from_context, resumed_options
from rnnkit.cli.runs import RunDirArgument
from rnnkit.cli.training_flags import with_training_flags
from rnnkit.tasks import lm

DEFAULTS = lm.LMOptions()
_DATA, _MODEL, _BATCHING = "Data", "Model", "Batching"


@train_app.command("lm")
@with_training_flags(lm.LMOptions)
def train_lm(
    ctx: typer.Context,
    data: Annotated[
        Path | None, typer.Option(help="Training text file.", rich_help_panel=_DATA)
    ] = DEFAULTS.data,
    val: Annotated[
        Path | None,
        typer.Option(
            help="Validation text (default: the last --val-fraction of --data).",
            rich_help_panel=_DATA,
        ),
    ] = DEFAULTS.val,
    out: Annotated[
        Path | None, typer.Option(help="Run directory to write.", rich_help_panel=_DATA)
    ] = DEFAULTS.out,
    encoding: Annotated[
        str, typer.Option(help="Text encoding of the files.", rich_help_panel=_DATA)
    ] = DEFAULTS.encoding,
    val_fraction: Annotated[
        float,
        typer.Option(
            help="Share of --data kept for validation without --val.", rich_help_panel=_DATA
        ),
    ] = DEFAULTS.val_fraction,
    tokenizer: Annotated[
        Literal["char", "word", "bpe"], typer.Option(help="Tokens to model.", rich_help_panel=_DATA)
    ] = DEFAULTS.tokenizer,
    vocab_size: Annotated[
        int | None,
        typer.Option(help="word: words kept; bpe: vocabulary size.", rich_help_panel=_DATA),
    ] = DEFAULTS.vocab_size,
    min_count: Annotated[
        int | None,
        typer.Option(help="word/bpe: fewest occurrences to keep or merge.", rich_help_panel=_DATA),
    ] = DEFAULTS.min_count,
    cell: Annotated[
        str,
        typer.Option(help=f"Recurrent cell: {', '.join(lm.CELL_NAMES)}.", rich_help_panel=_MODEL),
    ] = DEFAULTS.cell,
    embedding_size: Annotated[
        int | None,
        typer.Option(help="Embedding width (default: --hidden).", rich_help_panel=_MODEL),
    ] = DEFAULTS.embedding_size,
    hidden: Annotated[
        int, typer.Option(help="Hidden units per layer.", rich_help_panel=_MODEL)
    ] = DEFAULTS.hidden,
    layers: Annotated[
        int, typer.Option(help="Stacked recurrent layers.", rich_help_panel=_MODEL)
    ] = DEFAULTS.layers,
    dropout: Annotated[
        float,
        typer.Option(
            help="Dropout on embeddings, between layers, on outputs.", rich_help_panel=_MODEL
        ),
    ] = DEFAULTS.dropout,
    embedding_dropout: Annotated[
        float,
        typer.Option(
            help="Probability of dropping a whole token's embedding.", rich_help_panel=_MODEL
        ),
    ] = DEFAULTS.embedding_dropout,
    locked_dropout: Annotated[
        bool,
        typer.Option(help="One dropout mask per sequence (variational).", rich_help_panel=_MODEL),
    ] = DEFAULTS.locked_dropout,
    weight_drop: Annotated[
        float,
        typer.Option(help="DropConnect on the recurrent weights.", rich_help_panel=_MODEL),
    ] = DEFAULTS.weight_drop,
    tie_weights: Annotated[
        bool,
        typer.Option(help="Share the embedding with the output layer.", rich_help_panel=_MODEL),
    ] = DEFAULTS.tie_weights,
    bptt: Annotated[
        int, typer.Option(help="Steps per chunk of truncated BPTT.", rich_help_panel=_BATCHING)
    ] = DEFAULTS.bptt,
    batch_size: Annotated[
        int, typer.Option(help="Parallel streams per batch.", rich_help_panel=_BATCHING)
    ] = DEFAULTS.batch_size,
    sample_length: Annotated[
        int,
        typer.Option(help="Show a sample this long at each validation.", rich_help_panel=_BATCHING),
    ] = DEFAULTS.sample_length,
) -> None:
    """Train a recurrent language model on a text file."""
    options = options_from_context(lm.LMOptions, ctx, resumed_options(lm.LMOptions, ctx, lm.TASK))
    run_dir = lm.train(options)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, one report is enough
        typer.echo(f"run written to {run_dir}", err=True)


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
