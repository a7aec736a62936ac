"""``rnnkit train classify`` and ``rnnkit predict``: the command line of ``rnnkit.tasks.classify``.

``rnnkit predict`` reads the task of the run it is given, so it serves classify runs (a label and
the probabilities) and tag runs (``token/TAG`` pairs) alike.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from rnnkit.cli.app import app, train_app
from rnnkit.cli.options import options_from_context, resumed_options
from rnnkit.cli.runs import RunDirArgument
from rnnkit.cli.training_flags import with_training_flags
from rnnkit.errors import UserError
from rnnkit.tasks import classify, run_task

DEFAULTS = classify.ClassifyOptions()
_DATA, _NUMERIC, _MODEL, _TRANSFER = "Data", "Numeric sequences", "Model", "Transfer"


@train_app.command("classify")
@with_training_flags(classify.ClassifyOptions)
def train_classify(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        typer.Option(help="Training file: .csv/.tsv/.jsonl table, or .npz.", rich_help_panel=_DATA),
    ] = DEFAULTS.data,
    val: Annotated[
        Path | None,
        typer.Option(help="Validation file (default: a stratified split).", rich_help_panel=_DATA),
    ] = DEFAULTS.val,
    out: Annotated[
        Path | None, typer.Option(help="Run directory to write.", rich_help_panel=_DATA)
    ] = DEFAULTS.out,
    encoding: Annotated[
        str, typer.Option(help="Text encoding of the files.", rich_help_panel=_DATA)
    ] = DEFAULTS.encoding,
    val_fraction: Annotated[
        float,
        typer.Option(help="Share of each class held out without --val.", rich_help_panel=_DATA),
    ] = DEFAULTS.val_fraction,
    text_column: Annotated[
        str, typer.Option(help="Column holding the texts.", rich_help_panel=_DATA)
    ] = DEFAULTS.text_column,
    label_column: Annotated[
        str, typer.Option(help="Column holding the labels.", rich_help_panel=_DATA)
    ] = DEFAULTS.label_column,
    sequence_column: Annotated[
        str | None,
        typer.Option(
            help="Long-format table: column naming the sequence.", rich_help_panel=_NUMERIC
        ),
    ] = DEFAULTS.sequence_column,
    time_column: Annotated[
        str | None,
        typer.Option(
            help="Long-format table: column ordering the steps.", rich_help_panel=_NUMERIC
        ),
    ] = DEFAULTS.time_column,
    feature_columns: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated feature columns (default: every other numeric one).",
            rich_help_panel=_NUMERIC,
        ),
    ] = DEFAULTS.feature_columns,
    tokenizer: Annotated[
        Literal["char", "word", "bpe"],
        typer.Option(help="Tokens of the texts.", rich_help_panel=_DATA),
    ] = DEFAULTS.tokenizer,
    vocab_size: Annotated[
        int | None,
        typer.Option(help="word: words kept; bpe: vocabulary size.", rich_help_panel=_DATA),
    ] = DEFAULTS.vocab_size,
    min_count: Annotated[
        int | None,
        typer.Option(help="word/bpe: fewest occurrences to keep or merge.", rich_help_panel=_DATA),
    ] = DEFAULTS.min_count,
    lowercase: Annotated[
        bool, typer.Option(help="word: lowercase the texts.", rich_help_panel=_DATA)
    ] = DEFAULTS.lowercase,
    max_length: Annotated[
        int | None,
        typer.Option(help="Keep at most this many tokens or steps.", rich_help_panel=_DATA),
    ] = DEFAULTS.max_length,
    cell: Annotated[
        str, typer.Option(help="Recurrent cell: lstm, gru, rnn, ...", rich_help_panel=_MODEL)
    ] = DEFAULTS.cell,
    embedding_size: Annotated[
        int, typer.Option(help="Token embedding width.", rich_help_panel=_MODEL)
    ] = DEFAULTS.embedding_size,
    hidden: Annotated[
        int, typer.Option(help="Hidden units per direction.", rich_help_panel=_MODEL)
    ] = DEFAULTS.hidden,
    layers: Annotated[
        int, typer.Option(help="Stacked recurrent layers.", rich_help_panel=_MODEL)
    ] = DEFAULTS.layers,
    bidirectional: Annotated[
        bool, typer.Option(help="Read sequences in both directions.", rich_help_panel=_MODEL)
    ] = DEFAULTS.bidirectional,
    pooling: Annotated[
        Literal["last", "mean", "max", "attention"],
        typer.Option(help="How per-token outputs become one vector.", rich_help_panel=_MODEL),
    ] = DEFAULTS.pooling,
    dropout: Annotated[
        float,
        typer.Option(
            help="Dropout on inputs, between layers, before the head.", rich_help_panel=_MODEL
        ),
    ] = DEFAULTS.dropout,
    class_weights: Annotated[
        Literal["none", "balanced"],
        typer.Option(
            help="balanced: weigh classes inversely to their frequency.", rich_help_panel=_MODEL
        ),
    ] = DEFAULTS.class_weights,
    batch_size: Annotated[
        int, typer.Option(help="Sequences per batch (bucketed by length).", rich_help_panel=_MODEL)
    ] = DEFAULTS.batch_size,
    init_from: Annotated[
        Path | None,
        typer.Option(
            help="Start from this lm run's tokenizer, embedding and RNN.", rich_help_panel=_TRANSFER
        ),
    ] = DEFAULTS.init_from,
    freeze_epochs: Annotated[
        int,
        typer.Option(
            help="Unfreeze the pretrained layers gradually over this many epochs.",
            rich_help_panel=_TRANSFER,
        ),
    ] = DEFAULTS.freeze_epochs,
) -> None:
    """Train a classifier of texts or numeric sequences (one label per sequence)."""
    previous = resumed_options(classify.ClassifyOptions, ctx, classify.TASK)
    options = options_from_context(classify.ClassifyOptions, ctx, previous)
    run_dir = classify.train(options)
    typer.echo(f"run written to {run_dir}", err=True)


@app.command()
def predict(
    run_dir: RunDirArgument,
    text: Annotated[
        list[str] | None, typer.Option(help="A text to label (repeat for several).")
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="File of inputs, in the training format.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="CSV to write with --data (default: stdout).")
    ] = None,
    explain: Annotated[
        bool, typer.Option(help="Show each token's weight (attention or gradient saliency).")
    ] = False,
    encoding: Annotated[str, typer.Option(help="Text encoding of --data.")] = "utf-8",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines to stdout.")] = False,
) -> None:
    """Predict with a classify run (label and probabilities) or a tag run (token/TAG pairs)."""
    task, module, _ = run_task(run_dir)
    if task not in ("classify", "tag"):
        raise UserError(
            f"{run_dir} is a run of task '{task}'; `rnnkit predict` works on classify and tag runs."
        )
    if (text is None) == (data is None):
        raise UserError('give either --text "..." or --data FILE to predict on.')
    if output is not None and data is None:
        raise UserError("--output applies to --data FILE; drop it or give --data.")
    if task == "tag":
        _predict_tags(run_dir, text, data, output, encoding, as_json)
        return
    if data is not None:
        if explain:
            raise UserError("--explain works with --text; drop it when predicting a --data file.")
        rows = classify.predict_file(run_dir, data, output, encoding=encoding)
        if output is not None:
            typer.echo(f"wrote {rows} predictions to {output}", err=True)
        return
    for prediction in classify.predict_texts(run_dir, text, explain=explain):
        if as_json:
            typer.echo(json.dumps(_jsonable(prediction)))
            continue
        shares = ", ".join(f"{k} {v:.3f}" for k, v in prediction.probabilities.items())
        typer.echo(f"{prediction.label}\t({shares})")
        if prediction.explanation is not None:
            typer.echo(f"# per-token {prediction.method} weights")
            for token, weight in prediction.explanation:
                typer.echo(f"{token}\t{weight:.4f}")


def _jsonable(prediction: classify.Prediction) -> dict:
    record = {"label": prediction.label, "probabilities": prediction.probabilities}
    if prediction.explanation is not None:
        record["method"] = prediction.method
        record["explanation"] = [[t, w] for t, w in prediction.explanation]
    return record


def _predict_tags(
    run_dir: Path,
    texts: list[str] | None,
    data: Path | None,
    output: Path | None,
    encoding: str,
    as_json: bool,
) -> None:
    from rnnkit.tasks import tag

    if data is not None:
        sentences = tag.predict_file(run_dir, data, output, encoding=encoding)
        if output is not None:
            typer.echo(f"wrote {sentences} tagged sentences to {output}", err=True)
        return
    for pairs in tag.predict_texts(run_dir, texts):
        if as_json:
            typer.echo(json.dumps([[token, label] for token, label in pairs]))
        else:
            typer.echo(" ".join(f"{token}/{label}" for token, label in pairs))
