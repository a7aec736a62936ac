"""Calibrated intervals cover what they promise, and the automatic transform choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ridge_oracle import numpy_combined_ridge

from rnnkit.data.series import Series, SeriesColumns, SeriesTable
from rnnkit.data.windows import Spans, Windows, fit_scaler
from rnnkit.metrics import forecast as fm
from rnnkit.models.forecaster import Forecaster
from rnnkit.models.linear_ar import COMBINED, PENALTIES
from rnnkit.tasks.forecast import BacktestSettings, calibrate_intervals
from rnnkit.tasks.forecast_intervals import Intervals, conformal_level, movement, window_scale
from rnnkit.tasks.series_transforms import (
    choose_linear,
    choose_transform,
    fold_forecasts,
    rolling_folds,
)


def test_symmetric_and_signed_quantiles_by_hand() -> None:
    # nine one-step windows, scale 1, residuals -4 -3 -1 0 0 1 2 2 5: spread sqrt(60 / 9).
    # Split conformal over 9 windows takes the 80% interval at the ceil(10 * 0.8) / 9 = 8/9
    # quantile: |r| sorted 0 0 1 1 2 2 3 4 5 at position 8 * 8/9 = 7.11, 4.11 by linear
    # interpolation. Signed, the 0.9 quantile moves to ceil(10 * 0.9) / 9 = 1 (the largest, 5)
    # and the 0.1 quantile to 1 - 1 = 0 (the smallest, -4)
    residuals = np.array([-4.0, -3.0, -1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 5.0])
    actual = residuals.reshape(9, 1, 1)
    forecast, scale = np.zeros((9, 1, 1)), np.ones((9, 1))
    root = np.sqrt(60.0 / 9.0)
    symmetric = Intervals.fit(actual, forecast, scale, [0.1, 0.5, 0.9])
    np.testing.assert_allclose(symmetric.spread, [root])
    np.testing.assert_allclose(symmetric.z, [-(4 + 1 / 9) / root, 0.0, (4 + 1 / 9) / root])
    signed = Intervals.fit(actual, forecast, scale, [0.1, 0.5, 0.9], symmetric=False)
    np.testing.assert_allclose(signed.z, [-4.0 / root, 0.0, 5.0 / root])


def test_the_conformal_level_by_hand() -> None:
    # ceil((N + 1) p) / N: 26 windows at 80% -> 22/26; 300 at 80% -> 241/300; 4 at 80% -> 1
    assert conformal_level(0.8, 26) == pytest.approx(22 / 26)
    assert conformal_level(0.8, 300) == pytest.approx(241 / 300)
    assert conformal_level(0.8, 4) == 1.0
    assert conformal_level(0.8, 9) == pytest.approx(8 / 9)  # (N + 1) p = 8 exactly


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
    choice, errors = choose_transform(table, spans, 24, 12, 12, True, "window")
    # log and diff both make the growth additive; either beats the raw values by far
    assert choice.transform in ("log", "diff")
    assert errors["log"] < 0.5 * errors["none"] and errors["diff"] < 0.5 * errors["none"]


def test_rolling_folds_by_hand() -> None:
    # one series: training rows 0..40, validation 40..50; windows of horizon 3 at origins 5..47.
    # fold 0 scores origins 40..47 (targets in 40..50) fitted on origins <= 37; fold 1 scores
    # origins 30..37 (targets in 30..40), fitted on origins <= 27; fold 2 (20..30) fits on
    # origins 5..17, 13 windows, under min_fit 14: dropped
    origins = np.arange(5, 48)
    windows = Windows(
        history=torch.zeros(len(origins), 2, 1),
        covariates=torch.zeros(len(origins), 5, 0),
        future=torch.zeros(len(origins), 3, 1),
        series=["_"] * len(origins),
        origins=origins,
    )
    folds = rolling_folds(windows, Spans({"_": (40, 50, 60)}), horizon=3, min_fit=14)
    assert len(folds) == 2
    (fit0, scored0), (fit1, scored1) = folds
    assert origins[fit0].tolist() == list(range(5, 38))
    assert origins[scored0].tolist() == list(range(40, 48))
    assert origins[fit1].tolist() == list(range(5, 28))
    assert origins[scored1].tolist() == list(range(30, 38))
    assert len(rolling_folds(windows, Spans({"_": (40, 50, 60)}), 3, min_fit=13)) == 3


def noisy_seasonal_table() -> tuple[np.ndarray, SeriesTable, Spans]:
    """200 rows of trend + season + noise: training rows 0..140, validation 140..170."""
    rng = np.random.default_rng(5)
    t = np.arange(200)
    return one_series_table(50 + 0.1 * t + 5 * np.sin(2 * np.pi * t / 12) + rng.normal(size=200))


def one_series_table(values: np.ndarray) -> tuple[np.ndarray, SeriesTable, Spans]:
    """200 values as a table of one series: training rows 0..140, validation 140..170."""
    y = np.asarray(values, dtype=np.float64)[:, None]
    table = SeriesTable(
        series=[Series("_", y, np.zeros((200, 0)))],
        columns=SeriesColumns(targets=["y"]),
        file_columns=["y"],
        covariate_names=[],
    )
    return y, table, Spans({"_": (140, 170, 200)})


def numpy_fold_forecasts(
    y: np.ndarray,
    factors: tuple[float, ...],
    fit_origins: range,
    scored_origins: range,
    season: int = 12,
) -> np.ndarray:
    """``(N, 6)`` forecasts of the scored origins by the mean of the ridge fits (NumPy least
    squares, ridge as augmented rows) of windows L=24, H=6 over the seasonal-naive base of
    ``season`` (1: the last value), each normalised by its last value and its standard deviation
    plus 0.01 in the scaler's units (training rows)."""
    eps = 1e-2 * y[:140, 0].std()

    def rows(origins):
        x, target = [], []
        for o in origins:
            history = y[o - 24 : o, 0]
            spread = history.std() + eps
            x.append((history - history[-1]) / spread)
            target.append((y[o : o + 6, 0] - np.resize(history[-season:], 6)) / spread)
        return np.array(x), np.array(target)

    x, target = rows(fit_origins)
    weight, bias = numpy_combined_ridge(x, target, factors)
    forecasts = []
    for o in scored_origins:
        history = y[o - 24 : o, 0]
        spread = history.std() + eps
        x_o = (history - history[-1]) / spread
        forecasts.append(np.resize(history[-season:], 6) + spread * (weight @ x_o + bias))
    return np.array(forecasts)


#: the rolling folds of ``noisy_seasonal_table`` with L=24, H=6: (fitted, scored) origins of the
#: validation span 140..170, then of 110..140 and 80..110
NOISY_FOLDS = [
    (range(24, 135), range(140, 165)),
    (range(24, 105), range(110, 135)),
    (range(24, 75), range(80, 105)),
]


def test_auto_keeps_the_penalties_with_the_smaller_rolling_errors() -> None:
    # the chosen penalties are the three of smallest error computed fold by fold with NumPy,
    # best first, and the error returned is the best one's
    y, table, spans = noisy_seasonal_table()
    choice = choose_linear(table, spans, "none", 24, 6, 12, True, "window", "seasonal")
    penalties, error = choice.penalties, choice.error

    scale = np.mean(np.abs(y[12:140, 0] - y[:128, 0]))

    def fold_error(factor: float, fit_origins: range, scored_origins: range) -> float:
        forecasts = numpy_fold_forecasts(y, (factor,), fit_origins, scored_origins)
        actual = np.array([y[o : o + 6, 0] for o in scored_origins])
        return float(np.mean(np.abs(actual - forecasts))) / scale

    expected = {f: np.mean([fold_error(f, *fold) for fold in NOISY_FOLDS]) for f in PENALTIES}
    assert penalties == tuple(sorted(expected, key=expected.get)[:COMBINED])
    assert len(penalties) == COMBINED == 3
    assert error == pytest.approx(expected[penalties[0]], rel=1e-4)


def test_fold_forecasts_are_the_combined_fit_of_each_earlier_fold() -> None:
    # folds 1 and 2 (not the validation span), each fitted on the windows before it with the
    # mean of the penalties' fits; forecasts and actual values in the file's units
    y, table, spans = noisy_seasonal_table()
    factors = (0.1, 10.0)
    folds = fold_forecasts(table, spans, "none", factors, 24, 6, 12, True, "window")
    assert folds is not None
    expected_origins = [*NOISY_FOLDS[1][1], *NOISY_FOLDS[2][1]]
    assert folds.origins.tolist() == expected_origins
    assert folds.series == ["_"] * len(expected_origins)
    expected = np.concatenate([numpy_fold_forecasts(y, factors, *NOISY_FOLDS[k]) for k in (1, 2)])
    np.testing.assert_allclose(folds.forecast[..., 0], expected, rtol=1e-6)
    np.testing.assert_allclose(
        folds.actual[..., 0], np.array([y[o : o + 6, 0] for o in expected_origins])
    )
    # a validation span with no fold before it gives none
    short = Spans({"_": (60, 90, 200)})
    assert fold_forecasts(table, short, "none", factors, 24, 6, 12, True, "window") is None


def test_log_intervals_are_multiplicative_and_follow_the_level() -> None:
    # a hand-computed quantile: forecast 100, spread 0.5 at the step, movement 0.2, z = 1
    intervals = Intervals(levels=[0.9], spread=[0.5], z=[1.0], log=True)
    q = intervals.quantiles(np.array([[[100.0]]]), np.array([[0.2]]))
    np.testing.assert_allclose(q, [[[[100.0 * np.exp(0.1)]]]])
    assert Intervals.from_dict(intervals.to_dict()) == intervals

    # errors proportional to the level (5% log noise): calibrated on level 10, applied at 1000
    rng = np.random.default_rng(1)

    def draw(level: float, count: int):
        forecast = np.full((count, 4, 1), level)
        actual = forecast * np.exp(0.05 * rng.standard_normal((count, 4, 1)))
        history = level * np.exp(0.05 * rng.standard_normal((count, 24, 1)))
        return actual, forecast, history

    actual, forecast, history = draw(10.0, 400)
    fitted = Intervals.fit(actual, forecast, movement(history, log=True), [0.1, 0.9], log=True)
    actual, forecast, history = draw(1000.0, 2000)
    q = fitted.quantiles(forecast, movement(history, log=True))
    assert fm.coverage(actual, q[..., 0], q[..., -1]) == pytest.approx(0.8, abs=0.03)


def test_intervals_pool_validation_and_earlier_fold_residuals() -> None:
    # a model whose linear part and network are zero forecasts the seasonal-naive values; its
    # validation residuals and the folds' residuals, each over the window's movement (mean
    # |change| of the 4 lookbacks before it), give the step spreads and pooled quantiles by hand
    y, table, spans = noisy_seasonal_table()
    model = Forecaster(
        1,
        horizon=6,
        hidden_size=3,
        relative=True,
        normalise="window",
        season=12,
        lookback=24,
        linear=True,
    ).eval()
    settings = BacktestSettings(
        lookback=24, horizon=6, stride=6, season=12, quantiles=[0.1, 0.9], split="140,30,30"
    )
    folds = fold_forecasts(table, spans, "none", (0.1, 10.0), 24, 6, 12, True, "window")
    intervals = calibrate_intervals(model, table, fit_scaler(table, spans), spans, settings, folds)

    val_origins = range(140, 165)
    actual = [y[o : o + 6, 0] for o in val_origins] + list(folds.actual[..., 0])
    forecast = [y[o - 12 : o - 6, 0] for o in val_origins] + list(folds.forecast[..., 0])
    origins = [*val_origins, *folds.origins]
    scale = np.array([np.abs(np.diff(y[max(0, o - 96) : o, 0])).mean() for o in origins])
    residual = (np.array(actual) - np.array(forecast)) / scale[:, None]
    spread = np.maximum.accumulate(np.sqrt((residual**2).mean(axis=0)))
    # symmetric: the 80% of |residual| at split conformal's level over the windows
    level = np.ceil((len(origins) + 1) * 0.8) / len(origins)
    size = np.quantile(np.abs(residual / spread), level)
    np.testing.assert_allclose(intervals.spread, spread, rtol=1e-4)
    np.testing.assert_allclose(intervals.z, [-size, size], rtol=1e-4)
    # without the folds only the validation windows count
    alone = calibrate_intervals(model, table, fit_scaler(table, spans), spans, settings)
    own = residual[: len(val_origins)]
    assert not np.allclose(alone.spread, intervals.spread, rtol=1e-2)
    np.testing.assert_allclose(
        alone.spread, np.maximum.accumulate(np.sqrt((own**2).mean(axis=0))), rtol=1e-4
    )


def numpy_best_fold_errors(y: np.ndarray, season: int) -> np.ndarray:
    """``(3,)``: on each rolling fold, the scaled MAE of the penalty with the smallest mean over
    the folds, for the base of ``season`` (scaled by the in-sample seasonal-naive MAE of 12)."""
    scale = np.mean(np.abs(y[12:140, 0] - y[:128, 0]))
    errors = []
    for factor in PENALTIES:
        per_fold = []
        for fit_origins, scored_origins in NOISY_FOLDS:
            forecasts = numpy_fold_forecasts(y, (factor,), fit_origins, scored_origins, season)
            actual = np.array([y[o : o + 6, 0] for o in scored_origins])
            per_fold.append(np.mean(np.abs(actual - forecasts)) / scale)
        errors.append(per_fold)
    errors = np.array(errors)
    return errors[np.argmin(errors.mean(axis=1))]


@pytest.mark.parametrize("kind", ["seasonal", "random walk"])
def test_auto_base_is_naive_only_where_it_beats_seasonal_naive_on_every_fold(kind: str) -> None:
    # a seasonal series keeps --season's base; a random walk given a season of 12 takes the
    # last value, which its seasonal lag only adds noise to; both as NumPy's fold errors say
    if kind == "seasonal":
        y, table, spans = noisy_seasonal_table()
    else:
        rng = np.random.default_rng(3)
        y, table, spans = one_series_table(100 + np.cumsum(rng.normal(size=200)))
    choice = choose_linear(table, spans, "none", 24, 6, 12, True, "window")
    seasonal, naive = numpy_best_fold_errors(y, 12), numpy_best_fold_errors(y, 1)
    expected = 1 if np.all(naive < seasonal) else 12
    assert choice.season == expected == (12 if kind == "seasonal" else 1)
    best = naive if expected == 1 else seasonal
    assert choice.error == pytest.approx(best.mean(), rel=1e-4)
    # the fixed bases take no vote, and a series without a season has nothing to choose
    for base, season in (("seasonal", 12), ("naive", 1)):
        assert choose_linear(table, spans, "none", 24, 6, 12, True, "window", base).season == season
    assert choose_linear(table, spans, "none", 24, 6, 1, True, "window").season == 1
