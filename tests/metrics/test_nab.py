"""The NAB score against values worked out by hand from the paper's definition."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnkit.metrics import nab


def _flags(length: int, rows: list[int]) -> np.ndarray:
    flags = np.zeros(length, dtype=bool)
    flags[rows] = True
    return flags


def test_the_scaled_sigmoid() -> None:
    assert nab.scaled_sigmoid(0.0) == pytest.approx(0.0)
    # the earliest possible detection, y = -1: NAB's maximal true-positive reward
    assert nab.scaled_sigmoid(-1.0) == pytest.approx(0.9866142981514305)
    assert nab.scaled_sigmoid(1.0) == pytest.approx(-0.9866142981514305)
    assert nab.scaled_sigmoid(3.5) == -1.0


def test_probation_is_fifteen_percent_capped_at_750_rows() -> None:
    assert nab.probation_rows(100) == 15
    assert nab.probation_rows(4032) == 604
    assert nab.probation_rows(22695) == 750


def test_only_the_first_detection_in_a_window_counts() -> None:
    # 100 rows, window rows 40..49 (width 10): a flag at 40 sits at y = -10/10 = -1
    result = nab.score_file(_flags(100, [40, 45, 49]), [(40, 49)])
    assert result.score == pytest.approx(0.9866142981514305)
    assert (result.true_positives, result.false_positives, result.false_negatives) == (1, 0, 0)
    # a flag at the window's last row: y = -1/10
    late = nab.score_file(_flags(100, [49]), [(40, 49)])
    assert late.score == pytest.approx(2 / (1 + math.exp(-0.5)) - 1)  # 0.2449


def test_false_positives_cost_by_their_distance_after_the_window() -> None:
    # flag at 60: y = |49 - 60| / (10 - 1) = 11/9, cost 0.11 * sigma(11/9); window missed: -1
    result = nab.score_file(_flags(100, [60]), [(40, 49)])
    expected = 0.11 * (2 / (1 + math.exp(5 * 11 / 9)) - 1) - 1.0
    assert result.score == pytest.approx(expected)  # -0.10951 - 1
    assert result.score == pytest.approx(-1.109513, abs=1e-6)
    # before the first window: the full A_FP; in the probationary rows (< 15): nothing
    before = nab.score_file(_flags(100, [5, 20]), [(40, 49)])
    assert before.score == pytest.approx(-0.11 - 1.0)
    assert before.false_positives == 1
    # more than 3 widths after: sigma = -1
    far = nab.score_file(_flags(200, [40, 180]), [(40, 49)])
    assert far.score == pytest.approx(0.9866142981514305 - 0.11)


def test_normalised_score_puts_null_at_0_and_perfect_at_100() -> None:
    windows = [(40, 49), (70, 79)]
    null = nab.score_file(np.zeros(100, dtype=bool), windows)
    assert null.score == -2.0
    assert nab.normalised([null]) == pytest.approx(0.0)
    early = nab.score_file(_flags(100, [40, 70]), windows)
    # 2 * 0.98661 over a range of 4: 100 * (1.97323 + 2) / 4
    assert nab.normalised([early]) == pytest.approx(100 * (2 * 0.9866142981514305 + 2) / 4)
    one = nab.score_file(_flags(100, [40]), windows)
    assert nab.normalised([null, one]) == pytest.approx(100 * (-3 + 0.98661430 + 4) / 8)


def test_windows_of_a_label_column() -> None:
    labels = np.array([0, 1, 1, 0, 0, 1, 0, 1, 1, 1])
    assert nab.windows_of(labels) == [(1, 2), (5, 5), (7, 9)]
