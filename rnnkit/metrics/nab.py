"""The Numenta Anomaly Benchmark's score (Lavin & Ahmad 2015, "Evaluating real-time anomaly
detection algorithms - the Numenta Anomaly Benchmark"), from its definition.

Each labelled anomaly has a window of rows around it. A detector's flags are scored row by row:

- inside a window, only the window's first flag counts: it earns ``A_TP * sigma(y)``, where
  ``y = -(right - i + 1) / width`` is its position relative to the window's right end ``right``
  (``width`` rows, so ``y`` runs from -1 at the left edge to about 0 at the right) and
  ``sigma(y) = 2 / (1 + exp(5 y)) - 1`` is the scaled sigmoid: an early detection earns almost
  ``A_TP``, a late one almost nothing;
- a window without a flag costs ``A_FN``;
- a flag outside every window costs ``A_FP * sigma(y)`` (negative): after a window, ``y`` is
  its distance past that window's right end over ``width - 1`` (``sigma = -1`` beyond ``y = 3``),
  so a flag just after a window costs little; before the first window it costs ``A_FP``;
- flags in the probationary period (the first ``min(floor(0.15 T), 0.15 * 5000)`` rows, where a
  detector is still learning) are not scored.

A corpus's raw score is the sum over its files; the reported score normalises it so that the null
detector (no flag: ``-A_FN`` per window) scores 0 and the perfect one (``A_TP`` per window)
scores 100. The standard profile weighs ``A_TP = 1``, ``A_FP = 0.11``, ``A_FN = 1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PROBATION_SHARE = 0.15


@dataclass(frozen=True)
class Profile:
    """The weights of true positives, false positives and false negatives."""

    tp: float = 1.0
    fp: float = 0.11
    fn: float = 1.0


STANDARD = Profile()

#: published standard-profile scores on the whole corpus (58 files), NAB scoreboard
PUBLISHED = {"Numenta HTM": 70.5, "numenta random": 11.0, "null": 0.0, "perfect": 100.0}


def scaled_sigmoid(y: float) -> float:
    """``2 / (1 + exp(5 y)) - 1``, and -1 beyond ``y = 3``."""
    if y > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def probation_rows(length: int) -> int:
    """Rows of a series of ``length`` rows whose flags are not scored."""
    return int(min(math.floor(PROBATION_SHARE * length), PROBATION_SHARE * 5000))


@dataclass
class FileScore:
    """One file's raw score and its parts: counts and the summed TP/FP rewards (FN cost)."""

    score: float
    true_positives: int
    false_positives: int
    false_negatives: int
    windows: int


def score_file(
    flags: np.ndarray, windows: list[tuple[int, int]], profile: Profile = STANDARD
) -> FileScore:
    """Raw NAB score of ``flags (T,)`` against ``windows``: ``[first, last]`` rows, inclusive,
    in time order, not overlapping."""
    flags = np.asarray(flags).astype(bool)
    windows = sorted((int(a), int(b)) for a, b in windows)
    probation = probation_rows(len(flags))
    score, tp, fp = 0.0, 0, 0
    hit = [False] * len(windows)
    previous: int | None = None  # the last window that ended before row i
    k = 0
    for i in np.flatnonzero(flags):
        while k < len(windows) and windows[k][1] < i:
            previous, k = k, k + 1
        if i < probation:
            continue
        if k < len(windows) and windows[k][0] <= i:
            if not hit[k]:
                first, last = windows[k]
                position = -(last - i + 1) / (last - first + 1)
                score += profile.tp * scaled_sigmoid(position)
                hit[k], tp = True, tp + 1
            continue
        fp += 1
        if previous is None:
            score -= profile.fp
        else:
            first, last = windows[previous]
            position = abs(last - i) / max(last - first, 1)
            score += profile.fp * scaled_sigmoid(position)
    missed = hit.count(False)
    score -= profile.fn * missed
    return FileScore(score, tp, fp, missed, len(windows))


def normalised(files: list[FileScore], profile: Profile = STANDARD) -> float:
    """The corpus score, 0 for the null detector and 100 for the perfect one."""
    total = sum(f.score for f in files)
    windows = sum(f.windows for f in files)
    if windows == 0:
        return float("nan")
    null, perfect = -profile.fn * windows, profile.tp * windows
    return 100.0 * (total - null) / (perfect - null)


def windows_of(labels: np.ndarray) -> list[tuple[int, int]]:
    """The ``[first, last]`` rows of every run of 1s in a 0/1 label column."""
    labels = np.asarray(labels).astype(bool)
    padded = np.concatenate([[False], labels, [False]])
    changes = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b) - 1) for a, b in zip(changes[::2], changes[1::2], strict=True)]
