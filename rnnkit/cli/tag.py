"""``rnnkit train tag``: the command line of ``rnnkit.tasks.tag`` (``rnnkit predict`` serves tag
runs too; it lives in ``rnnkit/cli/classify.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rnnkit.cli.app import train_app
from rnnkit.cli.common_flags import (
    MODEL_PANEL,
    BidirectionalHiddenFlag,
    CellFlag,
    EncodingFlag,
    LayersFlag,
    OutFlag,
    flag_option,
)
from rnnkit.cli.options import train_command_options
from rnnkit.cli.training_flags import with_training_flags
from rnnkit.tasks import tag

DEFAULTS = tag.TagOptions()


@train_app.command("tag")
@with_training_flags(tag.TagOptions)
def train_tag(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        flag_option("CoNLL training file: token<TAB>tag lines."),
    ] = DEFAULTS.data,
    val: Annotated[
        Path | None,
        flag_option("CoNLL validation file (default: the last sentences)."),
    ] = DEFAULTS.val,
    out: OutFlag = DEFAULTS.out,
    encoding: EncodingFlag = DEFAULTS.encoding,
    val_fraction: Annotated[
        float,
        flag_option("Share of sentences held out without --val."),
    ] = DEFAULTS.val_fraction,
    lowercase: Annotated[
        bool,
        flag_option("Lowercase words for the word vocabulary."),
    ] = DEFAULTS.lowercase,
    min_count: Annotated[int, flag_option("Rarer words are unknown.")] = DEFAULTS.min_count,
    char_features: Annotated[
        bool, flag_option("Add character-level RNN features.", MODEL_PANEL)
    ] = DEFAULTS.char_features,
    cell: CellFlag = DEFAULTS.cell,
    embedding_size: Annotated[
        int, flag_option("Word embedding width.", MODEL_PANEL)
    ] = DEFAULTS.embedding_size,
    hidden: BidirectionalHiddenFlag = DEFAULTS.hidden,
    layers: LayersFlag = DEFAULTS.layers,
    char_embedding_size: Annotated[
        int, flag_option("Character embedding width.", MODEL_PANEL)
    ] = DEFAULTS.char_embedding_size,
    char_hidden: Annotated[
        int, flag_option("Character RNN hidden units.", MODEL_PANEL)
    ] = DEFAULTS.char_hidden,
    dropout: Annotated[
        float,
        flag_option("Dropout on word features and before the head.", MODEL_PANEL),
    ] = DEFAULTS.dropout,
    batch_size: Annotated[
        int,
        flag_option("Sentences per batch (bucketed by length).", MODEL_PANEL),
    ] = DEFAULTS.batch_size,
) -> None:
    """Train a tagger (one tag per token) on a CoNLL file."""
    options = train_command_options(tag.TagOptions, ctx, tag.TASK)
    run_dir = tag.train(options)
    typer.echo(f"run written to {run_dir}", err=True)
