"""``rnnkit train lm`` and ``rnnkit generate``: the command line of ``rnnkit.tasks.lm``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from rnnkit.cli.app import app, train_app
from rnnkit.cli.common_flags import (
    MODEL_PANEL,
    CellFlag,
    EncodingFlag,
    HiddenFlag,
    LayersFlag,
    MinCountFlag,
    OutFlag,
    TokenizerFlag,
    VocabSizeFlag,
    flag_option,
)
from rnnkit.cli.options import train_command_options
from rnnkit.cli.runs import RunDirArgument
from rnnkit.cli.training_flags import with_training_flags
from rnnkit.tasks import lm

DEFAULTS = lm.LMOptions()
_BATCHING = "Batching"


@train_app.command("lm")
@with_training_flags(lm.LMOptions)
def train_lm(
    ctx: typer.Context,
    data: Annotated[Path | None, flag_option("Training text file.")] = DEFAULTS.data,
    val: Annotated[
        Path | None,
        flag_option("Validation text (default: the last --val-fraction of --data)."),
    ] = DEFAULTS.val,
    out: OutFlag = DEFAULTS.out,
    encoding: EncodingFlag = DEFAULTS.encoding,
    val_fraction: Annotated[
        float,
        flag_option("Share of --data kept for validation without --val."),
    ] = DEFAULTS.val_fraction,
    tokenizer: TokenizerFlag = DEFAULTS.tokenizer,
    vocab_size: VocabSizeFlag = DEFAULTS.vocab_size,
    min_count: MinCountFlag = DEFAULTS.min_count,
    cell: CellFlag = DEFAULTS.cell,
    embedding_size: Annotated[
        int | None,
        flag_option("Embedding width (default: --hidden).", MODEL_PANEL),
    ] = DEFAULTS.embedding_size,
    hidden: HiddenFlag = DEFAULTS.hidden,
    layers: LayersFlag = DEFAULTS.layers,
    dropout: Annotated[
        float,
        flag_option("Dropout on embeddings, between layers, on outputs.", MODEL_PANEL),
    ] = DEFAULTS.dropout,
    embedding_dropout: Annotated[
        float,
        flag_option("Probability of dropping a whole token's embedding.", MODEL_PANEL),
    ] = DEFAULTS.embedding_dropout,
    locked_dropout: Annotated[
        bool,
        flag_option("One dropout mask per sequence (variational).", MODEL_PANEL),
    ] = DEFAULTS.locked_dropout,
    weight_drop: Annotated[
        float,
        flag_option("DropConnect on the recurrent weights.", MODEL_PANEL),
    ] = DEFAULTS.weight_drop,
    tie_weights: Annotated[
        bool,
        flag_option("Share the embedding with the output layer.", MODEL_PANEL),
    ] = DEFAULTS.tie_weights,
    init: Annotated[
        str,
        flag_option(
            "Cell weight initialisation: uniform (torch's) or xavier_orthogonal.", MODEL_PANEL
        ),
    ] = DEFAULTS.init,
    bptt: Annotated[
        int, flag_option("Steps per chunk of truncated BPTT.", _BATCHING)
    ] = DEFAULTS.bptt,
    batch_size: Annotated[
        int, flag_option("Parallel streams per batch.", _BATCHING)
    ] = DEFAULTS.batch_size,
    sample_length: Annotated[
        int,
        flag_option("Show a sample this long at each validation.", _BATCHING),
    ] = DEFAULTS.sample_length,
) -> None:
    """Train a recurrent language model on a text file."""
    options = train_command_options(lm.LMOptions, ctx, lm.TASK)
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
