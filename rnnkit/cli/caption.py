"""``rnnkit train caption`` and ``rnnkit caption``: the command line of ``rnnkit.tasks.caption``
(``rnnkit evaluate --images`` on a caption run lives in ``cli/runs.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rnnkit.cli.app import app
from rnnkit.cli.runs import BeamFlag, LengthPenaltyFlag, NoRepeatNgramFlag, RunDirArgument
from rnnkit.cli.train_command import register_train_command
from rnnkit.errors import UserError
from rnnkit.tasks import caption as cap

register_train_command(cap.TASK_SPEC)


@app.command()
def caption(
    run_dir: RunDirArgument,
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Image files to describe (for a --keywords run: keyword strings).",
            show_default=False,
        ),
    ],
    beam: BeamFlag = None,
    length_penalty: LengthPenaltyFlag = None,
    no_repeat_ngram: NoRepeatNgramFlag = None,
    attention_plot: Annotated[
        Path | None,
        typer.Option(help="Draw where the decoder looked for each word of the (first) input."),
    ] = None,
) -> None:
    """Describe images with a caption run: one `input<TAB>caption` line per input on stdout."""
    decoding = dict(beam=beam, length_penalty=length_penalty, no_repeat_ngram=no_repeat_ngram)
    run = cap.load_run(run_dir)
    settings = run.decoding.overridden(**decoding)  # checked before any image is read
    if attention_plot is not None and attention_plot.suffix.lower() != ".png":
        raise UserError(f"--attention-plot {attention_plot} must name a .png file.")
    for item, text in zip(inputs, run.caption_inputs(run.inputs_of(inputs), settings), strict=True):
        typer.echo(f"{item}\t{text}")
    if attention_plot is not None:
        cap.plot_attention_of(run_dir, inputs[0], attention_plot, run=run, **decoding)
        typer.echo(f"attention plot written to {attention_plot}", err=True)
