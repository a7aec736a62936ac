"""Point-wise and event-wise precision/recall/F1 against hand counts."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.metrics.anomaly import event_scores, point_scores, runs


def test_runs_finds_maximal_stretches() -> None:
    assert runs(np.array([0, 1, 1, 0, 1, 0, 0, 1])) == [(1, 3), (4, 5), (7, 8)]
    assert runs(np.zeros(4)) == []


def test_point_and_event_scores_by_hand() -> None:
    labels = np.array([0, 1, 1, 1, 0, 0, 1, 1, 0, 0], dtype=bool)  # events [1,4) and [6,8)
    flags = np.array([0, 0, 1, 0, 0, 0, 0, 0, 1, 1], dtype=bool)  # detections [2,3) and [8,10)
    point = point_scores(labels, flags)
    # one hit of 3 flags and 5 labelled points
    assert point["precision"] == pytest.approx(1 / 3)
    assert point["recall"] == pytest.approx(1 / 5)
    assert point["f1"] == pytest.approx(2 * (1 / 3) * (1 / 5) / (1 / 3 + 1 / 5))
    event = event_scores(labels, flags)
    # the first event is found, the second is not; one of two detections is true
    assert (event["events"], event["detections"]) == (2, 2)
    assert event["recall"] == pytest.approx(0.5)
    assert event["precision"] == pytest.approx(0.5)
    assert event["f1"] == pytest.approx(0.5)


def test_scores_without_flags_are_zero() -> None:
    labels = np.array([0, 1, 0], dtype=bool)
    assert point_scores(labels, np.zeros(3, bool))["f1"] == 0.0
    assert event_scores(labels, np.zeros(3, bool))["precision"] == 0.0
