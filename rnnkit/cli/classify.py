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
from rnnkit.cli.common_flags import (
    MODEL_PANEL,
    BidirectionalHiddenFlag,
    CellFlag,
    EncodingFlag,
    LayersFlag,
    LowercaseFlag,
    MinCountFlag,
    OutFlag,
    TokenizerFlag,
    VocabSizeFlag,
    flag_option,
)
from rnnkit.cli.options import train_command_options
from rnnkit.cli.runs import RunDirArgument
from rnnkit.cli.training_flags import with_training_flags
from rnnkit.errors import UserError
from rnnkit.tasks import classify
from rnnkit.tasks.lifecycle import Run

DEFAULTS = classify.ClassifyOptions()
_NUMERIC, _TRANSFER = "Numeric sequences", "Transfer"


@train_app.command("classify")
@with_training_flags(classify.ClassifyOptions)
def train_classify(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        flag_option("Training file: .csv/.tsv/.jsonl table, or .npz."),
    ] = DEFAULTS.data,
    val: Annotated[
        Path | None,
        flag_option("Validation file (default: a stratified split)."),
    ] = DEFAULTS.val,
    out: OutFlag = DEFAULTS.out,
    encoding: EncodingFlag = DEFAULTS.encoding,
    val_fraction: Annotated[
        float,
        flag_option("Share of each class held out without --val."),
    ] = DEFAULTS.val_fraction,
    text_column: Annotated[str, flag_option("Column holding the texts.")] = DEFAULTS.text_column,
    label_column: Annotated[str, flag_option("Column holding the labels.")] = DEFAULTS.label_column,
    sequence_column: Annotated[
        str | None,
        flag_option("Long-format table: column naming the sequence.", _NUMERIC),
    ] = DEFAULTS.sequence_column,
    time_column: Annotated[
        str | None,
        flag_option("Long-format table: column ordering the steps.", _NUMERIC),
    ] = DEFAULTS.time_column,
    feature_columns: Annotated[
        str | None,
        flag_option(
            "Comma-separated feature columns (default: every other numeric one).", _NUMERIC
        ),
    ] = DEFAULTS.feature_columns,
    tokenizer: TokenizerFlag = DEFAULTS.tokenizer,
    vocab_size: VocabSizeFlag = DEFAULTS.vocab_size,
    min_count: MinCountFlag = DEFAULTS.min_count,
    lowercase: LowercaseFlag = DEFAULTS.lowercase,
    max_length: Annotated[
        int | None,
        flag_option("Keep at most this many tokens or steps."),
    ] = DEFAULTS.max_length,
    cell: CellFlag = DEFAULTS.cell,
    embedding_size: Annotated[
        int, flag_option("Token embedding width.", MODEL_PANEL)
    ] = DEFAULTS.embedding_size,
    hidden: BidirectionalHiddenFlag = DEFAULTS.hidden,
    layers: LayersFlag = DEFAULTS.layers,
    bidirectional: Annotated[
        bool, flag_option("Read sequences in both directions.", MODEL_PANEL)
    ] = DEFAULTS.bidirectional,
    pooling: Annotated[
        Literal["last", "mean", "max", "attention"],
        flag_option("How per-token outputs become one vector.", MODEL_PANEL),
    ] = DEFAULTS.pooling,
    dropout: Annotated[
        float,
        flag_option("Dropout on inputs, between layers, before the head.", MODEL_PANEL),
    ] = DEFAULTS.dropout,
    class_weights: Annotated[
        Literal["none", "balanced"],
        flag_option("balanced: weigh classes inversely to their frequency.", MODEL_PANEL),
    ] = DEFAULTS.class_weights,
    batch_size: Annotated[
        int,
        flag_option("Sequences per batch (bucketed by length).", MODEL_PANEL),
    ] = DEFAULTS.batch_size,
    init_from: Annotated[
        Path | None,
        flag_option("Start from this lm run's tokenizer, embedding and RNN.", _TRANSFER),
    ] = DEFAULTS.init_from,
    freeze_epochs: Annotated[
        int,
        flag_option("Unfreeze the pretrained layers gradually over this many epochs.", _TRANSFER),
    ] = DEFAULTS.freeze_epochs,
) -> None:
    """Train a classifier of texts or numeric sequences (one label per sequence)."""
    options = train_command_options(classify.ClassifyOptions, ctx, classify.TASK)
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
    task = Run.open(run_dir).task
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
