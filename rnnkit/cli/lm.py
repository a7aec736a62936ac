"""``rnnkit train lm`` and ``rnnkit generate``: the command line of ``rnnkit.tasks.lm``.

``rnnkit generate`` reads the task of the run it is given and calls that task's generator
(``GENERATORS``): text streamed to stdout for an lm run, a MIDI file for a music run (registered
by ``rnnkit/cli/music.py``). Each refuses the flags of the other in one sentence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from rnnkit.cli.app import app
from rnnkit.cli.runs import RunDirArgument
from rnnkit.cli.train_command import register_train_command
from rnnkit.errors import UserError
from rnnkit.tasks import lm
from rnnkit.tasks.lifecycle import Run

register_train_command(lm.TASK_SPEC)


@dataclass
class GenerateRequest:
    """What ``rnnkit generate`` was asked; None: the flag was not given."""

    run_dir: Path
    prime: str | None
    temperature: float
    seed: int | None
    # text (lm)
    length: int | None
    top_k: int | None
    top_p: float | None
    # music
    output: Path | None
    steps: int | None
    tempo: float | None
    program: int | None
    wav: Path | None
    frames_per_quarter: int | None = None
    weights: str | None = None  # lm

    def refuse(self, flags: dict[str, object], kind: str) -> None:
        """``UserError`` naming the first of ``flags`` (flag -> value) that was given."""
        given = [name for name, value in flags.items() if value is not None]
        if given:
            raise UserError(f"{given[0]} does not apply to {kind}; drop it.")


@app.command()
def generate(
    run_dir: RunDirArgument,
    prime: Annotated[
        str | None, typer.Option(help="Text to continue (lm), or a MIDI file to continue (music).")
    ] = None,
    length: Annotated[
        int | None, typer.Option(help="Tokens to generate (lm; default 500).")
    ] = None,
    temperature: Annotated[float, typer.Option(help="Sampling temperature; 0 is greedy.")] = 1.0,
    top_k: Annotated[
        int | None, typer.Option(help="Sample among the k likeliest tokens; 0: all (lm).")
    ] = None,
    top_p: Annotated[
        float | None, typer.Option(help="Sample within this much probability mass; 1: all (lm).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed for a reproducible sample (default: random).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="MIDI file to write, a .png piano roll beside it (music).")
    ] = None,
    steps: Annotated[
        int | None, typer.Option(help="Frames to generate (music; default 128).")
    ] = None,
    tempo: Annotated[
        float | None, typer.Option(help="Quarter notes per minute of the MIDI file (music; 120).")
    ] = None,
    program: Annotated[
        int | None, typer.Option(help="General MIDI instrument 0-127 (music; 0: piano).")
    ] = None,
    wav: Annotated[
        Path | None, typer.Option(help="Also render a WAV file, sine synthesiser (music).")
    ] = None,
    frames_per_quarter: Annotated[
        int | None,
        typer.Option(help="Frames per quarter note of the MIDI file (music; default: the run's)."),
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option(
            help="Precision of the weight matrices while generating: float32, bf16 or int8 "
            "(lm; faster, the loss within about 1%)."
        ),
    ] = None,
) -> None:
    """Generate from a run: text streamed to stdout (lm), or a MIDI file and its piano roll
    (music)."""
    task = Run.open(run_dir).task
    request = GenerateRequest(
        run_dir,
        prime,
        temperature,
        seed,
        length,
        top_k,
        top_p,
        output,
        steps,
        tempo,
        program,
        wav,
        frames_per_quarter,
        weights,
    )
    GENERATORS.get(task, _generate_text)(request)


def _generate_text(request: GenerateRequest) -> None:
    """``rnnkit generate`` on an lm run (and on runs of tasks that do not generate, which
    ``lm.generate`` refuses by name)."""
    request.refuse(
        {
            "--output": request.output,
            "--steps": request.steps,
            "--tempo": request.tempo,
            "--program": request.program,
            "--wav": request.wav,
            "--frames-per-quarter": request.frames_per_quarter,
        },
        "text generation (it is for music runs)",
    )
    prime = request.prime or ""
    pieces = lm.generate(
        request.run_dir,
        prime,
        500 if request.length is None else request.length,
        request.temperature,
        0 if request.top_k is None else request.top_k,
        1.0 if request.top_p is None else request.top_p,
        request.seed,
        "float32" if request.weights is None else request.weights,
    )
    typer.echo(prime, nl=False)
    for piece in pieces:
        typer.echo(piece, nl=False)
    typer.echo()


#: ``rnnkit generate`` on a run of each task that generates (other tasks: ``_generate_text``,
#: which refuses them)
GENERATORS: dict[str, Callable[[GenerateRequest], None]] = {"lm": _generate_text}
