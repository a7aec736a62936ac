"""``rnnkit train speech`` and ``rnnkit transcribe``: the command line of ``rnnkit.tasks.speech``
(``rnnkit evaluate`` on a speech run lives in ``cli/runs.py``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from rnnkit.cli.app import app
from rnnkit.cli.runs import DataFlag, EncodingFlag, OutputFlag, RunDirArgument
from rnnkit.cli.train_command import register_train_command
from rnnkit.errors import UserError
from rnnkit.tasks import speech

register_train_command(speech.TASK_SPEC)


@app.command()
def transcribe(
    run_dir: RunDirArgument,
    files: Annotated[
        list[Path] | None, typer.Argument(help="Audio files to transcribe.", show_default=False)
    ] = None,
    data: DataFlag = None,
    output: OutputFlag = None,
    stream: Annotated[
        Path | None,
        typer.Option(help="Transcribe this file as it arrives, chunk by chunk (greedy)."),
    ] = None,
    chunk_ms: Annotated[float, typer.Option(help="Audio per chunk of --stream.")] = 100.0,
    beam: Annotated[
        int | None, typer.Option(help="Beam width; 1 is greedy (default: the run's).")
    ] = None,
    lm_weight: Annotated[
        float | None, typer.Option(help="Weight of the language model (default: the run's).")
    ] = None,
    words: Annotated[
        Path | None, typer.Option(help="Word list (one per line) that the beam search keeps to.")
    ] = None,
    encoding: EncodingFlag = "utf-8",
) -> None:
    """Transcribe audio with a speech run: FILES to stdout (path<TAB>text), --data (a path
    table or a folder) to --output as a path,text CSV, or --stream one file as it arrives."""
    given = [files is not None and len(files) > 0, data is not None, stream is not None]
    if sum(given) != 1:
        raise UserError("give audio FILES, or --data TABLE_OR_FOLDER, or --stream FILE (one).")
    if stream is not None:
        if beam is not None or words is not None or lm_weight is not None:
            raise UserError("--stream decodes greedily; drop --beam, --lm-weight and --words.")
        for piece in speech.stream_transcription(run_dir, stream, chunk_ms=chunk_ms):
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
        return
    decoding = dict(beam=beam, lm_weight=lm_weight, words=words, encoding=encoding)
    if data is not None:
        count = speech.transcribe_table(run_dir, data, output, **decoding)
        if output is not None:
            typer.echo(f"{count} transcripts written to {output}", err=True)
        return
    if output is not None:
        raise UserError("--output applies to --data; FILES are transcribed to stdout.")
    for path, text in zip(files, speech.transcribe_files(run_dir, files, **decoding), strict=True):
        typer.echo(f"{path}\t{text}")
