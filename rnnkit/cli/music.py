"""``rnnkit train music``, and ``rnnkit generate`` on a music run (the command itself is in
``rnnkit/cli/lm.py`` and dispatches on the run's task)."""

from __future__ import annotations

import typer

from rnnkit.cli.lm import GENERATORS, GenerateRequest
from rnnkit.cli.train_command import register_train_command
from rnnkit.errors import UserError
from rnnkit.tasks import music

register_train_command(music.TASK_SPEC)


def _generate_music(request: GenerateRequest) -> None:
    """``rnnkit generate`` on a music run: a MIDI file, its piano-roll PNG, optionally a WAV."""
    request.refuse(
        {"--length": request.length, "--top-k": request.top_k, "--top-p": request.top_p},
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
    )
    typer.echo(f"{len(piece.roll)} frames ({piece.prime_frames} from the prime)", err=True)
    for path in [piece.midi, piece.png, *([piece.wav] if piece.wav else [])]:
        typer.echo(str(path))  # the files written, one a line, for scripts


GENERATORS["music"] = _generate_music
