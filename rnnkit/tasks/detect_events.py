"""From anomaly scores to events: a threshold chosen on the training rows, and merging.

A detector's score crosses its threshold many times around one anomaly: a level shift raises the
prediction error for a while, a spike both when it comes and when it goes. ``EventTracker``
turns exceedances into events with hysteresis: an event starts at an exceedance that comes more
than ``min_gap`` rows after the previous exceedance, and only its first row is flagged; later
exceedances within ``min_gap`` rows of one another belong to the same event. The tracker works
row by row, so a stream flags exactly the rows that batch scoring does (``event_flags``).

``ScoreSmoother`` (``smooth_scores`` for a whole series) first replaces each score by the root
mean square of the last ``k``, so that a lasting rise of the error counts more than one noisy row.
``choose_threshold`` sets the threshold on the training rows' scores alone (no labels): the
``quantile`` of their finite scores, raised by ``margin`` times their spread above it. It is
tested on a synthetic series: one anomaly gives one event.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np


class EventTracker:
    """Flags the first row of each event of scores above ``threshold`` (see the module)."""

    def __init__(self, threshold: float, min_gap: int) -> None:
        if min_gap < 0:
            raise ValueError(f"min_gap must be >= 0, got {min_gap}")
        self.threshold, self.min_gap = threshold, min_gap
        self.since = math.inf  # rows since the last exceedance

    def push(self, score: float) -> bool:
        """Whether ``score`` (NaN: no score) starts an event."""
        above = math.isfinite(score) and score > self.threshold
        onset = above and self.since > self.min_gap
        self.since = 0 if above else self.since + 1
        return onset


def event_flags(scores: np.ndarray, threshold: float, min_gap: int) -> np.ndarray:
    """``(T,)`` bool: the first row of every event of ``scores (T,)``."""
    tracker = EventTracker(threshold, min_gap)
    return np.array([tracker.push(float(s)) for s in scores], dtype=bool)


def choose_threshold(scores: np.ndarray, quantile: float, margin: float = 0.0) -> float:
    """``q + margin * (q - median)`` of the finite ``scores``, ``q`` their ``quantile``."""
    finite = np.asarray(scores, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if len(finite) == 0:
        raise ValueError("no finite score to choose a threshold from")
    q = float(np.quantile(finite, quantile))
    return q + margin * (q - float(np.median(finite)))


class ScoreSmoother:
    """The root mean square of the last ``k`` scores, one score at a time (NaN stays NaN and is
    left out of later means): a lasting rise of the error outweighs a single noisy row."""

    def __init__(self, k: int) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.recent: deque[float] = deque(maxlen=k)

    def push(self, score: float) -> float:
        if not math.isfinite(score):
            return math.nan
        self.recent.append(score * score)
        return math.sqrt(sum(self.recent) / len(self.recent))


def smooth_scores(scores: np.ndarray, k: int) -> np.ndarray:
    """``(T,)``: every score replaced by ``ScoreSmoother(k)``'s value (``k = 1``: unchanged)."""
    smoother = ScoreSmoother(k)
    return np.array([smoother.push(float(s)) for s in scores])
