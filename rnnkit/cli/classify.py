"""``rnnkit train classify`` and ``rnnkit predict``: the command line of ``rnnkit.tasks.classify``.

``rnnkit predict`` reads the task of the run it is given and calls that task's predictions, so it
serves classify runs (a label and the probabilities) and tag runs (``token/TAG`` pairs) alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from rnnkit.cli.app import app
from rnnkit.cli.runs import DataFlag, EncodingFlag, OutputFlag, RunDirArgument, TextsFlag
from rnnkit.cli.train_command import register_train_command
from rnnkit.errors import UserError
from rnnkit.tasks import classify
from rnnkit.tasks.lifecycle import Run

register_train_command(classify.TASK_SPEC)


@dataclass
class PredictRequest:
    """What ``rnnkit predict`` was asked: exactly one of ``texts`` and ``data`` is given."""

    run_dir: Path
    texts: list[str] | None
    data: Path | None
    output: Path | None
    encoding: str
    as_json: bool
    explain: bool


@app.command()
def predict(
    run_dir: RunDirArgument,
    text: TextsFlag = None,
    data: DataFlag = None,
    output: OutputFlag = None,
    explain: Annotated[
        bool, typer.Option(help="Show each token's weight (attention or gradient saliency).")
    ] = False,
    encoding: EncodingFlag = "utf-8",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines to stdout.")] = False,
) -> None:
    """Predict with a classify run (label and probabilities) or a tag run (token/TAG pairs).

    --data's predictions go to --output (CSV for classify, token<TAB>tag lines for tag), or to
    stdout without it."""
    task = Run.open(run_dir).task
    if task not in PREDICTORS:
        raise UserError(
            f"{run_dir} is a run of task '{task}'; `rnnkit predict` works on classify and tag runs "
            "(and video runs)."
        )
    if (text is None) == (data is None):
        raise UserError('give either --text "..." or --data FILE to predict on.')
    if output is not None and data is None:
        raise UserError("--output applies to --data FILE; drop it or give --data.")
    PREDICTORS[task](PredictRequest(run_dir, text, data, output, encoding, as_json, explain))


def _predict_classes(request: PredictRequest) -> None:
    """``rnnkit predict`` on a classify run: a CSV of a --data file, or one line per --text."""
    if request.data is not None:
        if request.explain:
            raise UserError("--explain works with --text; drop it when predicting a --data file.")
        rows = classify.predict_file(
            request.run_dir, request.data, request.output, encoding=request.encoding
        )
        if request.output is not None:
            typer.echo(f"wrote {rows} predictions to {request.output}", err=True)
        return
    predictions = classify.predict_texts(request.run_dir, request.texts, explain=request.explain)
    for prediction in predictions:
        if request.as_json:
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


def _predict_tags(request: PredictRequest) -> None:
    """``rnnkit predict`` on a tag run: the tagged tokens of a --data file, or of each --text."""
    from rnnkit.tasks import tag

    if request.explain:
        raise UserError("--explain works with classify runs; drop it for a tag run.")
    if request.data is not None:
        sentences = tag.predict_file(
            request.run_dir, request.data, request.output, encoding=request.encoding
        )
        if request.output is not None:
            typer.echo(f"wrote {sentences} tagged sentences to {request.output}", err=True)
        return
    for pairs in tag.predict_texts(request.run_dir, request.texts):
        if request.as_json:
            typer.echo(json.dumps([[token, label] for token, label in pairs]))
        else:
            typer.echo(" ".join(f"{token}/{label}" for token, label in pairs))


#: ``rnnkit predict`` on a run of each task it serves
PREDICTORS: dict[str, Callable[[PredictRequest], None]] = {
    "classify": _predict_classes,
    "tag": _predict_tags,
}
