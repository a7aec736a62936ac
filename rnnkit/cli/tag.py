"""``rnnkit train tag``: the command line of ``rnnkit.tasks.tag`` (``rnnkit predict`` serves tag
runs too; it lives in ``rnnkit/cli/classify.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rnnkit.cli.app import train_app
from rnnkit.cli.options import options_from_context, resumed_options
from rnnkit.cli.training_flags import with_training_flags
from rnnkit.tasks import tag

DEFAULTS = tag.TagOptions()
_DATA, _MODEL = "Data", "Model"


@train_app.command("tag")
@with_training_flags(tag.TagOptions)
def train_tag(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        typer.Option(help="CoNLL training file: token<TAB>tag lines.", rich_help_panel=_DATA),
    ] = DEFAULTS.data,
    val: Annotated[
        Path | None,
        typer.Option(
            help="CoNLL validation file (default: the last sentences).", rich_help_panel=_DATA
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
        typer.Option(help="Share of sentences held out without --val.", rich_help_panel=_DATA),
    ] = DEFAULTS.val_fraction,
    lowercase: Annotated[
        bool, typer.Option(help="Lowercase words for the word vocabulary.", rich_help_panel=_DATA)
    ] = DEFAULTS.lowercase,
    min_count: Annotated[
        int, typer.Option(help="Rarer words are unknown.", rich_help_panel=_DATA)
    ] = DEFAULTS.min_count,
    char_features: Annotated[
        bool, typer.Option(help="Add character-level RNN features.", rich_help_panel=_MODEL)
    ] = DEFAULTS.char_features,
    cell: Annotated[
        str, typer.Option(help="Recurrent cell: lstm, gru, rnn, ...", rich_help_panel=_MODEL)
    ] = DEFAULTS.cell,
    embedding_size: Annotated[
        int, typer.Option(help="Word embedding width.", rich_help_panel=_MODEL)
    ] = DEFAULTS.embedding_size,
    hidden: Annotated[
        int, typer.Option(help="Hidden units per direction.", rich_help_panel=_MODEL)
    ] = DEFAULTS.hidden,
    layers: Annotated[
        int, typer.Option(help="Stacked recurrent layers.", rich_help_panel=_MODEL)
    ] = DEFAULTS.layers,
    char_embedding_size: Annotated[
        int, typer.Option(help="Character embedding width.", rich_help_panel=_MODEL)
    ] = DEFAULTS.char_embedding_size,
    char_hidden: Annotated[
        int, typer.Option(help="Character RNN hidden units.", rich_help_panel=_MODEL)
    ] = DEFAULTS.char_hidden,
    dropout: Annotated[
        float,
        typer.Option(help="Dropout on word features and before the head.", rich_help_panel=_MODEL),
    ] = DEFAULTS.dropout,
    batch_size: Annotated[
        int, typer.Option(help="Sentences per batch (bucketed by length).", rich_help_panel=_MODEL)
    ] = DEFAULTS.batch_size,
) -> None:
    """Train a tagger (one tag per token) on a CoNLL file."""
    previous = resumed_options(tag.TagOptions, ctx, tag.TASK)
    options = options_from_context(tag.TagOptions, ctx, previous)
    run_dir = tag.train(options)
    typer.echo(f"run written to {run_dir}", err=True)
