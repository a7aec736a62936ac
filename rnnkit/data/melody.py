"""Monophonic melodies as text tokens, so that the lm task (a word tokenizer) models them.

A melody is one key or silence per frame: from a piano roll, the highest key sounding in each frame
(its "skyline"). It is written as pairs of tokens, a pitch (``p60``, the MIDI pitch, or ``rest``)
then a duration in frames (``d4``), one piece per line::

    p67 d4 p69 d2 p71 d2 rest d4 p67 d8

A note longer than ``MAX_DURATION`` frames is written as several pairs of the same pitch, which
read back as one note, so the vocabulary stays small. Reading tokens back skips whatever does not
form a pair (an lm may generate a pitch without its duration), so any generated text gives a roll.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

from rnnkit.data.midi import KEYS, LOWEST_PITCH

MAX_DURATION = 32
REST = "rest"
_PITCH = re.compile(r"p(\d+)$")
_DURATION = re.compile(r"d(\d+)$")


def skyline(roll: np.ndarray) -> np.ndarray:
    """The highest sounding key of each frame of ``roll (T, K)``, -1 where silent: ``(T,)``."""
    roll = np.asarray(roll, dtype=bool)
    highest = roll.shape[1] - 1 - np.argmax(roll[:, ::-1], axis=1)
    return np.where(roll.any(axis=1), highest, -1)


def melody_tokens(roll: np.ndarray) -> list[str]:
    """The tokens of the melody (skyline) of ``roll (T, 88)``; leading and trailing silence
    dropped."""
    keys = skyline(roll)
    sounding = np.flatnonzero(keys >= 0)
    if sounding.size == 0:
        return []
    keys = keys[sounding[0] : sounding[-1] + 1]
    tokens: list[str] = []
    changes = np.flatnonzero(np.diff(keys)) + 1
    for start, end in zip(np.r_[0, changes], np.r_[changes, len(keys)], strict=True):
        pitch = REST if keys[start] < 0 else f"p{keys[start] + LOWEST_PITCH}"
        for length in _chunks(int(end - start)):
            tokens += [pitch, f"d{length}"]
    return tokens


def _chunks(frames: int) -> Iterable[int]:
    while frames > 0:
        yield min(frames, MAX_DURATION)
        frames -= MAX_DURATION


def melody_text(rolls: Sequence[np.ndarray]) -> str:
    """One line of tokens per piece (pieces without a note are left out)."""
    lines = [" ".join(tokens) for tokens in map(melody_tokens, rolls) if tokens]
    return "\n".join(lines) + "\n"


def roll_from_tokens(tokens: Sequence[str]) -> np.ndarray:
    """The piano roll ``(T, 88)`` uint8 of pitch/duration pairs; tokens that do not form a pair,
    and pitches off the 88 keys, are skipped."""
    frames: list[int] = []  # key per frame, -1: silence
    pitch: int | None = None
    for token in tokens:
        if token == REST or _PITCH.match(token):
            match = _PITCH.match(token)
            pitch = -1 if match is None else int(match.group(1)) - LOWEST_PITCH
            if not -1 <= pitch < KEYS:
                pitch = None
        elif (match := _DURATION.match(token)) and pitch is not None:
            frames += [pitch] * int(match.group(1))
            pitch = None
        else:
            pitch = None
    roll = np.zeros((len(frames), KEYS), dtype=np.uint8)
    for t, key in enumerate(frames):
        if key >= 0:
            roll[t, key] = 1
    return roll
