"""From anomaly scores to events: a threshold chosen on the training rows, and merging.

A detector's score crosses its threshold many times around one anomaly: a level shift raises the
prediction error for a while, a spike both when it comes and when it goes. ``EventTracker``
turns exceedances into events with hysteresis: an event starts at an exceedance that comes more
than ``min_gap`` rows after the previous exceedance, and only its first row is flagged; later
exceedances within ``min_gap`` rows of one another belong to the same event. The first
``probation`` rows are never flagged (the recurrent state is still settling; NAB's probationary
period). The tracker works row by row, so a stream flags exactly the rows that batch scoring
does (``event_flags``).

``PhaseNormaliser`` (``phase_normalise``) first judges each score of a seasonal series against the
scores at the same phase of the ``PHASE_SEASONS`` seasons before it: it divides the score by
their median, or by ``EXPECTED_ERROR`` (the median ``|z|`` of a standard normal, the error a
calibrated model expects of itself) when that is larger. A daily pattern's sharp step that the
model forecasts badly every day then scores about 1 every day; only an error unlike the ones at
that time of day before scores high.

``ScoreSmoother`` (``smooth_scores`` for a whole series) then replaces each score by the root
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

    def __init__(self, threshold: float, min_gap: int, probation: int = 0) -> None:
        if min_gap < 0 or probation < 0:
            raise ValueError(f"min_gap and probation must be >= 0, got {min_gap}, {probation}")
        self.threshold, self.min_gap, self.probation = threshold, min_gap, probation
        self.since = math.inf  # rows since the last exceedance
        self.rows = 0

    def push(self, score: float) -> bool:
        """Whether ``score`` (NaN: no score) starts an event (never in the probation rows)."""
        above = math.isfinite(score) and score > self.threshold
        onset = above and self.since > self.min_gap and self.rows >= self.probation
        self.since = 0 if above else self.since + 1
        self.rows += 1
        return onset


def event_flags(
    scores: np.ndarray, threshold: float, min_gap: int, probation: int = 0
) -> np.ndarray:
    """``(T,)`` bool: the first row of every event of ``scores (T,)`` after ``probation`` rows."""
    tracker = EventTracker(threshold, min_gap, probation)
    return np.array([tracker.push(float(s)) for s in scores], dtype=bool)


def choose_threshold(scores: np.ndarray, quantile: float, margin: float = 0.0) -> float:
    """``q + margin * (q - median)`` of the finite ``scores``, ``q`` their ``quantile``."""
    finite = np.asarray(scores, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if len(finite) == 0:
        raise ValueError("no finite score to choose a threshold from")
    q = float(np.quantile(finite, quantile))
    return q + margin * (q - float(np.median(finite)))


#: seasons back whose scores at the same phase a score is judged against
PHASE_SEASONS = 5
#: the median of |z| for a standard normal z (Phi^-1(0.75)): the least a typical error can be
EXPECTED_ERROR = 0.6745


class PhaseNormaliser:
    """Each score over the median of the finite scores ``m, 2m, ..., seasons * m`` rows before
    it (at least ``floor``); NaN without one. ``season = 0`` leaves scores as they are."""

    def __init__(
        self, season: int, seasons: int = PHASE_SEASONS, floor: float = EXPECTED_ERROR
    ) -> None:
        if season < 0 or seasons < 1:
            raise ValueError(f"need season >= 0 and seasons >= 1, got {season}, {seasons}")
        self.season, self.seasons, self.floor = season, seasons, floor
        self.past: deque[float] = deque(maxlen=season * seasons)

    def push(self, score: float) -> float:
        m = self.season
        if m == 0:
            return score
        lagged = [self.past[-k * m] for k in range(1, self.seasons + 1) if len(self.past) >= k * m]
        self.past.append(score)
        typical = [value for value in lagged if math.isfinite(value)]
        if not math.isfinite(score) or not typical:
            return math.nan
        return score / max(float(np.median(typical)), self.floor)


def phase_normalise(scores: np.ndarray, season: int) -> np.ndarray:
    """``(T,)``: every score replaced by ``PhaseNormaliser(season)``'s value."""
    normaliser = PhaseNormaliser(season)
    return np.array([normaliser.push(float(s)) for s in scores])


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
