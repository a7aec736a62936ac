"""Lists of transcribed audio files: a ``path,text`` table, or a folder named by a pattern.

Two ways to say which audio files hold which words:

- a table (CSV, TSV or JSON Lines, read by ``rnnkit.data.tables``) with a column of paths,
  relative to the table's own folder unless absolute, and a column of transcripts;
- a folder of audio files whose transcript is in the file name, taken out by a regular
  expression (``--label-from-name``): its group named ``text``, else its first group, else the
  whole match. FSDD's ``7_jackson_32.wav`` with ``^(\\d+)_`` gives ``"7"``.

Only the list is read here; ``rnnkit.data.audio`` reads the samples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rnnkit.data.tables import read_table, require_columns
from rnnkit.errors import UserError

#: the audio files a folder is searched for
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


@dataclass(frozen=True)
class TranscribedAudio:
    """One audio file and its transcript (None where none was given: audio to transcribe)."""

    path: Path
    text: str | None


def read_transcribed_audio(
    source: str | Path,
    *,
    label_from_name: str | None = None,
    path_column: str = "path",
    text_column: str = "text",
    encoding: str = "utf-8",
    need_text: bool = True,
) -> list[TranscribedAudio]:
    """The audio files of a table or folder with their transcripts, in the source's order.

    ``need_text=False`` reads a table without a text column (or a folder without a pattern) as
    audio to transcribe. Raises ``UserError`` naming the source for a missing table or folder, a
    missing column, an empty table or folder, a bad pattern or a file name it does not match.
    Files are not opened here.
    """
    source = Path(source)
    if source.is_dir():
        return _from_folder(source, label_from_name, need_text)
    if not source.exists():
        raise UserError(f"{source} does not exist; give a path,text table or a folder of audio.")
    frame = read_table(source, encoding=encoding, as_text=True)
    require_columns(frame, [path_column, *([text_column] if need_text else [])], source)
    has_text = text_column in frame.columns
    base = source.parent
    items = []
    for number, row in enumerate(frame.itertuples(index=False), start=2):
        values = dict(zip(frame.columns, row, strict=True))
        name = values[path_column].strip()
        if not name:
            raise UserError(f"{source} line {number} has an empty {path_column!r}; fill it in.")
        path = Path(name) if Path(name).is_absolute() else base / name
        items.append(TranscribedAudio(path, values[text_column] if has_text else None))
    return items


def _from_folder(
    folder: Path, label_from_name: str | None, need_text: bool
) -> list[TranscribedAudio]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise UserError(
            f"{folder} holds no audio files ({', '.join(AUDIO_SUFFIXES)}); check the folder."
        )
    if label_from_name is None:
        if need_text:
            raise UserError(
                f"{folder} is a folder, so its transcripts must come from the file names; pass "
                "--label-from-name REGEX (or give a path,text table)."
            )
        return [TranscribedAudio(path, None) for path in files]
    pattern = compile_name_pattern(label_from_name)
    return [TranscribedAudio(path, transcript_from_name(path, pattern)) for path in files]


def compile_name_pattern(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled; ``UserError`` when it is not a regular expression."""
    try:
        return re.compile(pattern)
    except re.error as error:
        raise UserError(
            f"--label-from-name {pattern!r} is not a regular expression ({error})."
        ) from None


def transcript_from_name(path: Path, pattern: re.Pattern[str]) -> str:
    """The transcript that ``pattern`` finds in ``path``'s name without its extension."""
    match = pattern.search(path.stem)
    if match is None:
        raise UserError(
            f"{path} does not match --label-from-name {pattern.pattern!r}; rename the file or "
            "fix the pattern."
        )
    if "text" in pattern.groupindex:
        return match.group("text")
    return match.group(1) if pattern.groups else match.group(0)
