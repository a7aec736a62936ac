"""Forecast metrics, baselines and backtest origins against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnkit.metrics import forecast as fm


def test_point_metrics_by_hand() -> None:
    actual = np.array([2.0, 4.0, 0.0, 5.0])
    forecast = np.array([3.0, 2.0, 0.0, 5.0])
    # errors 1, 2, 0, 0
    assert fm.mae(actual, forecast) == pytest.approx(3 / 4)
    assert fm.rmse(actual, forecast) == pytest.approx(math.sqrt(5 / 4))
    # MAPE skips the zero actual: (1/2 + 2/4 + 0/5) / 3
    assert fm.mape(actual, forecast) == pytest.approx(100 * (0.5 + 0.5 + 0) / 3)
    # sMAPE: 2|e|/(|y|+|f|): 2/5, 4/6, 0 (both zero), 0
    assert fm.smape(actual, forecast) == pytest.approx(100 * (2 / 5 + 4 / 6) / 4)


def test_mase_scales_by_the_in_sample_naive_error() -> None:
    training = np.array([1.0, 3.0, 2.0, 6.0])  # |diffs| 2, 1, 4 -> mean 7/3
    actual, forecast = np.array([5.0, 5.0]), np.array([4.0, 8.0])  # MAE 2
    assert fm.mase(actual, forecast, training) == pytest.approx(2 / (7 / 3))
    # season 2: |2-1|, |6-3| -> mean 2
    assert fm.mase(actual, forecast, training, season=2) == pytest.approx(1.0)


def test_coverage_counts_values_inside_inclusive_bounds() -> None:
    actual = np.array([1.0, 2.0, 3.0, 4.0])
    lower, upper = np.array([0.0, 2.0, 3.5, 0.0]), np.array([2.0, 3.0, 4.0, 3.0])
    assert fm.coverage(actual, lower, upper) == pytest.approx(0.5)


def test_naive_and_seasonal_naive_forecasts() -> None:
    history = np.array([1, 2, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(fm.naive_forecast(history, 3), [7, 7, 7])
    # season 3: the last season is 5, 6, 7, repeated
    np.testing.assert_array_equal(fm.seasonal_naive_forecast(history, 5, 3), [5, 6, 7, 5, 6])
    two_columns = np.stack([history, -history], axis=1)
    np.testing.assert_array_equal(fm.naive_forecast(two_columns, 2), [[7, -7], [7, -7]])


def test_backtest_origins() -> None:
    # test span [20, 30), lookback 8, horizon 4, stride 4: origins 20, 24 (28 would end at 32)
    assert fm.backtest_origins(20, 30, 8, 4, 4).tolist() == [20, 24]
    # the first origin needs a full lookback of history
    assert fm.backtest_origins(2, 12, 5, 2, 3).tolist() == [5, 8]
