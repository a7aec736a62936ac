"""``rnnkit train music``, ``rnnkit generate`` on a music run (the command itself is in
``rnnkit/cli/lm.py`` and dispatches on the run's task), and ``rnnkit melody``: monophonic melodies
turned into text that ``rnnkit train lm --tokenizer word`` models, and generated text back to MIDI
(the melody mode reuses the lm task whole)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rnnkit.cli.app import UserErrorGroup, app
from rnnkit.cli.lm import GENERATORS, GenerateRequest
from rnnkit.cli.train_command import register_train_command
from rnnkit.data.piano_roll import RollSource
from rnnkit.errors import UserError
from rnnkit.tasks import music

register_train_command(music.TASK_SPEC)


def _generate_music(request: GenerateRequest) -> None:
    """``rnnkit generate`` on a music run: a MIDI file, its piano-roll PNG, optionally a WAV."""
    request.refuse(
        {
            "--length": request.length,
            "--top-k": request.top_k,
            "--top-p": request.top_p,
            "--weights": request.weights,
        },
        "music generation (use --steps for its length)",
    )
    if request.output is None:
        raise UserError("a music run generates a MIDI file; pass --output FILE.mid.")
    piece = music.generate(
        request.run_dir,
        request.output,
        steps=128 if request.steps is None else request.steps,
        temperature=request.temperature,
        seed=request.seed,
        prime=request.prime,
        tempo=120.0 if request.tempo is None else request.tempo,
        program=0 if request.program is None else request.program,
        wav=request.wav,
        frames_per_quarter=request.frames_per_quarter,
    )
    typer.echo(f"{len(piece.roll)} frames ({piece.prime_frames} from the prime)", err=True)
    for path in [piece.midi, piece.png, *([piece.wav] if piece.wav else [])]:
        typer.echo(str(path))  # the files written, one a line, for scripts


GENERATORS["music"] = _generate_music


# ------------------------------------------------------------------------------ melody mode

melody_app = typer.Typer(
    cls=UserErrorGroup,
    help="Monophonic melodies as text for `rnnkit train lm --tokenizer word`, and back to MIDI.",
    no_args_is_help=True,
)
app.add_typer(melody_app, name="melody")

FramesFlag = Annotated[int, typer.Option(help="MIDI grid: frames per quarter note.")]
FsFlag = Annotated[float | None, typer.Option(help="MIDI grid in frames per second instead.")]


@melody_app.command("to-text")
def melody_to_text(
    data: Annotated[Path, typer.Argument(help="Piano rolls (.mat, .npz), a MIDI file or folder.")],
    output: Annotated[Path, typer.Option(help="Text file to write, one piece per line.")],
    split: Annotated[
        str | None, typer.Option(help="Split of a file with splits (default: train).")
    ] = None,
    frames_per_quarter: FramesFlag = 8,
    fs: FsFlag = None,
    sustain: Annotated[bool, typer.Option(help="Hold notes under the sustain pedal.")] = False,
    skip_bad: Annotated[
        bool, typer.Option(help="List and skip MIDI files that do not read.")
    ] = False,
) -> None:
    """Write the melody (highest key of each frame) of every piece as pitch and duration tokens."""
    source = RollSource(frames_per_quarter, fs, sustain, skip_bad)
    count = music.melodies_to_text(data, output, source, split=split)
    typer.echo(f"wrote {count} melodies to {output}", err=True)


@melody_app.command("to-midi")
def melody_to_midi(
    text_file: Annotated[Path, typer.Argument(help="Tokens such as `p60 d4 rest d2` (lm output).")],
    output: Annotated[Path, typer.Option(help="MIDI file to write; a .png piano roll beside it.")],
    frames_per_quarter: FramesFlag = 8,
    fs: FsFlag = None,
    tempo: Annotated[float, typer.Option(help="Quarter notes per minute.")] = 120.0,
    program: Annotated[int, typer.Option(help="General MIDI instrument 0-127.")] = 0,
) -> None:
    """Turn melody tokens (all lines, in order) back into a MIDI file."""
    grid = {"frames_per_quarter": frames_per_quarter, "fs": fs}
    for path in music.melody_to_midi(text_file, output, **grid, tempo=tempo, program=program):
        typer.echo(str(path))
