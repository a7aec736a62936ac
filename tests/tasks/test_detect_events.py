"""Events from scores: one anomaly gives one event, and the threshold comes from training rows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnkit.metrics.anomaly import event_scores
from rnnkit.tasks.detect_events import (
    EventTracker,
    PhaseNormaliser,
    choose_threshold,
    event_flags,
    phase_normalise,
    smooth_scores,
)


def test_exceedances_closer_than_the_gap_are_one_event() -> None:
    scores = np.array([0, 5, 0, 5, 0, 0, 0, 5, 5, 0, math.nan, 0, 0, 0, 0, 5], dtype=float)
    # gap 2: rows 1 and 3 are one event; 7-8 are 4 rows after 3 -> a new one; 15 another
    assert np.flatnonzero(event_flags(scores, 1.0, 2)).tolist() == [1, 7, 15]
    # gap 0: every run of exceedances is an event
    assert np.flatnonzero(event_flags(scores, 1.0, 0)).tolist() == [1, 3, 7, 15]
    # gap 10: 7 is within 10 rows of 3, and 15 within 10 rows of 8
    assert np.flatnonzero(event_flags(scores, 1.0, 10)).tolist() == [1]


def test_a_stream_flags_the_rows_the_batch_flags() -> None:
    rng = np.random.default_rng(1)
    scores = np.abs(rng.standard_normal(500)) * 2
    tracker = EventTracker(3.0, 5)
    streamed = [tracker.push(float(s)) for s in scores]
    np.testing.assert_array_equal(streamed, event_flags(scores, 3.0, 5))


def test_choose_threshold_is_the_quantile_raised_by_the_margin() -> None:
    scores = np.array([math.nan, *range(101)], dtype=float)  # 0..100: median 50, q0.9 = 90
    assert choose_threshold(scores, 0.9) == pytest.approx(90.0)
    assert choose_threshold(scores, 0.9, margin=0.5) == pytest.approx(90 + 0.5 * 40)
    with pytest.raises(ValueError):
        choose_threshold(np.array([math.nan]), 0.9)


def test_threshold_on_training_rows_gives_one_event_per_anomaly_window() -> None:
    # Scores of a detector on a synthetic series: |noise| everywhere, and in each of three
    # anomaly windows a burst in which the score crosses and re-crosses a high level.
    rng = np.random.default_rng(0)
    scores = np.abs(rng.standard_normal(3000))
    labels = np.zeros(3000, dtype=int)
    for start in (2200, 2500, 2800):
        labels[start : start + 40] = 1
        burst = 6 + 3 * np.sin(np.arange(40))  # dips below any threshold near 3-4 too
        scores[start : start + 40] = burst * (np.arange(40) % 3 != 0)
    threshold = choose_threshold(scores[:2000], 0.999, margin=0.5)  # training rows only
    flags = event_flags(scores, threshold, min_gap=20)
    result = event_scores(labels, flags)
    assert result["events"] == 3 and result["detections"] == 3
    assert result["f1"] == 1.0
    # without merging, each burst splits into many detections
    assert event_scores(labels, scores > threshold)["detections"] > 3


def test_smoothing_is_the_rms_of_the_last_k_finite_scores() -> None:
    scores = np.array([3.0, math.nan, 4.0, 0.0, 5.0])
    smoothed = smooth_scores(scores, 2)
    assert math.isnan(smoothed[1])
    # row 2: the last two finite scores are 3 and 4 -> sqrt((9 + 16) / 2)
    np.testing.assert_allclose(
        smoothed[[0, 2, 3, 4]], [3.0, math.sqrt(12.5), 2.0 * math.sqrt(2.0), math.sqrt(12.5)]
    )
    np.testing.assert_array_equal(smooth_scores(scores[[0, 2, 3]], 1), [3.0, 4.0, 0.0])


def test_phase_normaliser_divides_by_the_median_of_the_same_phase_before() -> None:
    # season 2, 3 seasons back, floor 0.5: row t is divided by the median of rows t-2, t-4, t-6
    scores = np.array([1.0, 8.0, 3.0, 0.1, 2.0, 0.2, 6.0, 0.3, math.nan, 9.0])
    normaliser = PhaseNormaliser(2, seasons=3, floor=0.5)
    got = np.array([normaliser.push(float(s)) for s in scores])
    assert math.isnan(got[0]) and math.isnan(got[1])  # nothing one season back yet
    expected = {
        2: 3.0 / 1.0,  # median(1)
        3: 0.1 / 8.0,  # median(8)
        4: 2.0 / 2.0,  # median(3, 1)
        5: 0.2 / 4.05,  # median(0.1, 8)
        6: 6.0 / 2.0,  # median(2, 3, 1)
        7: 0.3 / 0.5,  # median(0.2, 0.1, 8) = 0.2, below the floor
        9: 9.0 / 0.5,  # median(0.3, 0.2, 0.1) = 0.2 -> floor
    }
    for row, value in expected.items():
        assert got[row] == pytest.approx(value), row
    assert math.isnan(got[8])  # no score stays no score
    np.testing.assert_array_equal(phase_normalise(scores, 0), scores)  # no season: unchanged


def test_a_daily_error_pattern_scores_low_and_a_break_high() -> None:
    # errors of 6 at the same phase every season (a step the model always misses) and one of 6
    # at another phase: only the latter is news
    scores = np.full(200, 0.7)
    scores[5::20] = 6.0
    scores[157] = 6.0
    normalised = phase_normalise(scores, 20)
    assert normalised[105] == pytest.approx(1.0) and normalised[157] == pytest.approx(6.0 / 0.7)


def test_probation_rows_are_never_flagged_and_an_event_running_through_them_is_not_new() -> None:
    scores = np.array([5, 0, 0, 5, 5, 0, 0, 0, 0, 0, 5], dtype=float)
    # gap 1; probation 4: row 0's and row 3's onsets are hidden, and the exceedance at row 4
    # continues row 3's event, so the first flag is row 10
    assert np.flatnonzero(event_flags(scores, 1.0, 1, probation=4)).tolist() == [10]
    assert np.flatnonzero(event_flags(scores, 1.0, 1, probation=3)).tolist() == [3, 10]
    assert np.flatnonzero(event_flags(scores, 1.0, 1)).tolist() == [0, 3, 10]
