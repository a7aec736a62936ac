"""MIDI files to piano rolls and back, through ``pretty_midi`` (the optional ``music`` extra).

A piano roll is a ``(T, 88)`` array of 0/1, row ``t`` the keys sounding in frame ``t``, column
``k`` the MIDI pitch ``21 + k`` (A0 to C8). Frames are either a fixed share of a quarter note
(``frames_per_quarter``, default 8: tempo changes do not change the grid) or a fixed rate in
seconds (``fs`` frames per second). A note sounds in the frames from its start to its end, each
rounded to the nearest frame, and at least one frame; pitches outside the 88 keys and drum tracks
are left out. With ``sustain``, a note released while the sustain pedal (controller 64 >= 64) is
down sounds until the pedal comes up.

Writing merges the frames a key sounds in without a break into one note, so reading a written
roll back on the same grid gives the same roll.
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.errors import UserError, require_extra

KEYS = 88
LOWEST_PITCH = 21  # A0, the lowest key of a piano
MIDI_SUFFIXES = (".mid", ".midi")
#: ticks per quarter note of the files we write: a multiple of every usual frames_per_quarter
WRITE_RESOLUTION = 480


def require_music_package(name: str) -> Any:
    """Import ``name`` (``pretty_midi``, ``scipy.io``); ``UserError`` saying how to install it."""
    return require_extra(name, "music", "reading and writing music")


def read_midi(
    path: Path, *, frames_per_quarter: int = 8, fs: float | None = None, sustain: bool = False
) -> np.ndarray:
    """The piano roll ``(T, 88)`` uint8 of a MIDI file; ``UserError`` naming the file when it does
    not parse or holds no note on the 88 keys."""
    pretty_midi = require_music_package("pretty_midi")
    if not Path(path).is_file():
        raise UserError(f"{path} does not exist or is not a file; check the path.")
    try:
        midi = pretty_midi.PrettyMIDI(str(path))
    except Exception as error:  # the parser raises many kinds (OSError, EOFError, KeyError, ...)
        reason = " ".join(str(error).split()).rstrip(".").replace(". ", "; ")
        reason = reason or type(error).__name__
        raise UserError(f"{path} is not a MIDI file that parses ({reason}).") from None

    def frame_of(seconds: np.ndarray) -> np.ndarray:
        if fs is not None:
            return np.rint(seconds * fs).astype(np.int64)
        ticks = np.array([midi.time_to_tick(float(s)) for s in seconds], dtype=np.float64)
        return np.rint(ticks * frames_per_quarter / midi.resolution).astype(np.int64)

    notes = []
    for instrument in midi.instruments:
        if instrument.is_drum:
            continue
        pedal = _pedal_intervals(instrument) if sustain else []
        for note in instrument.notes:
            if LOWEST_PITCH <= note.pitch < LOWEST_PITCH + KEYS:
                notes.append((note.pitch - LOWEST_PITCH, note.start, _released(note.end, pedal)))
    if not notes:
        raise UserError(f"{path} has no notes on the 88 piano keys; give a piece with notes.")
    keys = np.array([n[0] for n in notes])
    starts = frame_of(np.array([n[1] for n in notes]))
    ends = np.maximum(frame_of(np.array([n[2] for n in notes])), starts + 1)
    roll = np.zeros((int(ends.max()), KEYS), dtype=np.uint8)
    for key, start, end in zip(keys, starts, ends, strict=True):
        roll[start:end, key] = 1
    return roll


def _pedal_intervals(instrument: Any) -> list[tuple[float, float]]:
    """(down, up) times of the sustain pedal of one instrument."""
    intervals, down = [], None
    for change in sorted(instrument.control_changes, key=lambda c: c.time):
        if change.number != 64:
            continue
        if change.value >= 64 and down is None:
            down = change.time
        elif change.value < 64 and down is not None:
            intervals.append((down, change.time))
            down = None
    if down is not None:
        intervals.append((down, float("inf")))
    return intervals


def _released(end: float, pedal: list[tuple[float, float]]) -> float:
    for down, up in pedal:
        if down <= end < up:
            return end if up == float("inf") else up
    return end


def roll_to_midi(
    roll: np.ndarray,
    *,
    frames_per_quarter: int = 8,
    fs: float | None = None,
    tempo: float = 120.0,
    program: int = 0,
    velocity: int = 80,
) -> Any:
    """A ``pretty_midi.PrettyMIDI`` playing ``roll (T, 88)`` at ``tempo`` (quarter notes per
    minute) on General MIDI ``program`` (0: acoustic grand piano)."""
    pretty_midi = require_music_package("pretty_midi")
    seconds_per_frame = 1.0 / fs if fs is not None else 60.0 / (tempo * frames_per_quarter)
    midi = pretty_midi.PrettyMIDI(resolution=WRITE_RESOLUTION, initial_tempo=tempo)
    instrument = pretty_midi.Instrument(program=program)
    active = np.asarray(roll, dtype=bool)
    padded = np.pad(active, ((1, 1), (0, 0)))
    for key in range(active.shape[1]):
        changes = np.flatnonzero(padded[1:, key] != padded[:-1, key])
        for start, end in zip(changes[0::2], changes[1::2], strict=True):
            instrument.notes.append(
                pretty_midi.Note(
                    velocity=velocity,
                    pitch=LOWEST_PITCH + key,
                    start=start * seconds_per_frame,
                    end=end * seconds_per_frame,
                )
            )
    midi.instruments.append(instrument)
    return midi


def write_midi(path: Path, roll: np.ndarray, **settings: Any) -> None:
    """Write ``roll (T, 88)`` as a MIDI file (``settings``: those of ``roll_to_midi``)."""
    midi = roll_to_midi(roll, **settings)
    try:
        midi.write(str(path))
    except OSError as error:
        raise UserError(f"cannot write {path} ({error.strerror}); check the path.") from None


def write_wav(path: Path, roll: np.ndarray, sample_rate: int = 22050, **settings: Any) -> None:
    """Render ``roll`` with pretty_midi's sine-wave synthesiser (no sound font) to a 16-bit mono
    WAV file."""
    audio = roll_to_midi(roll, **settings).synthesize(fs=sample_rate)
    peak = float(np.abs(audio).max()) or 1.0
    samples = np.int16(np.clip(audio / peak, -1.0, 1.0) * 32767 * 0.9)
    try:
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(sample_rate)
            out.writeframes(samples.tobytes())
    except OSError as error:
        raise UserError(f"cannot write {path} ({error.strerror}); check the path.") from None
