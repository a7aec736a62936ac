"""Calibrated intervals cover what they promise, and the automatic transform choice."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.data.series import Series, SeriesColumns, SeriesTable
from rnnkit.data.windows import Spans
from rnnkit.metrics import forecast as fm
from rnnkit.tasks.forecast_intervals import Intervals, window_scale
from rnnkit.tasks.series_transforms import choose_transform


def test_window_scale_is_the_mean_absolute_change() -> None:
    history = np.array([[[1.0], [3.0], [2.0], [6.0]]])  # changes 2, 1, 4
    np.testing.assert_allclose(window_scale(history), [[7.0 / 3.0]])


def test_intervals_cover_their_nominal_share_of_new_errors() -> None:
    # errors grow with the step (sigma_h = h) and with the window's movement s; calibrated on
    # 300 windows, the 80% interval holds about 80% of 3000 fresh ones
    rng = np.random.default_rng(0)

    def draw(count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        scale = rng.uniform(0.5, 3.0, size=(count, 1))
        steps = np.arange(1, 7)[None, :, None]
        forecast = rng.standard_normal((count, 6, 1))
        actual = forecast + rng.standard_normal((count, 6, 1)) * steps * scale[:, None]
        return actual, forecast, scale

    intervals = Intervals.fit(*draw(300), levels=[0.1, 0.5, 0.9])
    actual, forecast, scale = draw(3000)
    q = intervals.quantiles(forecast, scale)  # (N, H, n, Q)
    assert q.shape == (3000, 6, 1, 3)
    assert fm.coverage(actual, q[..., 0], q[..., -1]) == pytest.approx(0.8, abs=0.03)
    # the z quantiles of a standardised normal residual: about -1.28, 0, 1.28
    np.testing.assert_allclose(intervals.z, [-1.2816, 0.0, 1.2816], atol=0.12)
    assert Intervals.from_dict(intervals.to_dict()) == intervals


def test_auto_transforms_a_multiplicative_seasonal_series() -> None:
    # exp(trend + season): in log units the residual over seasonal naive is a constant, the
    # linear stand-in's validation error far below that on the raw values
    t = np.arange(240)
    y = np.exp(4 + 0.01 * t + 0.3 * np.sin(2 * np.pi * t / 12))[:, None]
    table = SeriesTable(
        series=[Series("_", y, np.zeros((240, 0)))],
        columns=SeriesColumns(targets=["y"]),
        file_columns=["y"],
        covariate_names=[],
    )
    spans = Spans({"_": (168, 204, 240)})
    name, errors = choose_transform(table, spans, 24, 12, 12, True, "window")
    # log and diff both make the growth additive; either beats the raw values by far
    assert name in ("log", "diff")
    assert errors["log"] < 0.5 * errors["none"] and errors["diff"] < 0.5 * errors["none"]
