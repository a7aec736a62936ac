"""``rnnkit train translate`` and ``rnnkit translate``: the command line of
``rnnkit.tasks.translate`` (``rnnkit evaluate`` on a translate run lives in ``cli/runs.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rnnkit.cli.app import app
from rnnkit.cli.runs import (
    BeamFlag,
    DataFlag,
    EncodingFlag,
    LengthPenaltyFlag,
    NoRepeatNgramFlag,
    OutputFlag,
    RunDirArgument,
    TextsFlag,
)
from rnnkit.cli.train_command import register_train_command
from rnnkit.errors import UserError
from rnnkit.tasks import translate as tr

register_train_command(tr.TASK_SPEC)


@app.command()
def translate(
    run_dir: RunDirArgument,
    text: TextsFlag = None,
    data: DataFlag = None,
    output: OutputFlag = None,
    encoding: EncodingFlag = "utf-8",
    beam: BeamFlag = None,
    length_penalty: LengthPenaltyFlag = None,
    max_length_ratio: Annotated[
        float | None,
        typer.Option(help="Output tokens allowed per source token (default: the run's)."),
    ] = None,
    no_repeat_ngram: NoRepeatNgramFlag = None,
    allow_unknown: Annotated[
        bool | None,
        typer.Option(
            "--allow-unknown/--forbid-unknown",
            help="Whether outputs may contain the unknown token (default: the run's).",
        ),
    ] = None,
    attention_plot: Annotated[
        Path | None, typer.Option(help="Draw the attention of the (first) --text into this PNG.")
    ] = None,
) -> None:
    """Translate sentences with a translate run: --text to stdout, or --data to --output.

    --data holds one sentence per line (of a source<TAB>target file, the sources); --output
    gets one translation per line."""
    if (text is None) == (data is None):
        raise UserError("give either --text SENTENCE or --data FILE (with --output FILE).")
    if data is not None and output is None:
        raise UserError("--data needs --output FILE to write the translations to.")
    if attention_plot is not None and text is None:
        raise UserError("--attention-plot draws one sentence; give it with --text.")
    decoding = dict(
        beam=beam,
        length_penalty=length_penalty,
        max_length_ratio=max_length_ratio,
        no_repeat_ngram=no_repeat_ngram,
        allow_unknown=allow_unknown,
    )
    run = tr.load_run(run_dir)
    if data is not None:
        count = tr.translate_file(run_dir, data, output, encoding=encoding, run=run, **decoding)
        typer.echo(f"{count} translations written to {output}", err=True)
        return
    for translation in tr.translate(run_dir, text, what="--text", run=run, **decoding):
        typer.echo(translation)
    if attention_plot is not None:
        tr.plot_attention_of(run_dir, text[0], attention_plot, run=run, **decoding)
        typer.echo(f"attention plot written to {attention_plot}", err=True)
