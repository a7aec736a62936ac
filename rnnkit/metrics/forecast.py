"""Forecast accuracy, the naive baselines every forecast is compared with, and backtest origins.

All functions take NumPy arrays of the same shape (any shape; the mean runs over every element)
in the series' own units. Conventions, so the figures can be checked by hand:

- MAPE is ``100 * mean(|y - f| / |y|)`` over the elements with ``y != 0`` (NaN if none).
- sMAPE is ``100 * mean(2 |y - f| / (|y| + |f|))``, with ``0`` where ``y = f = 0``; in [0, 200].
- MASE divides the MAE by the in-sample MAE of the (seasonal) naive forecast on the training
  series: ``mean(|y_t - y_{t-m}|)`` for season ``m`` (``m = 1``: plain naive) (Hyndman & Koehler
  2006). Below 1 means better than that naive forecast was in sample.
- Coverage is the fraction of actual values inside ``[lower, upper]`` (inclusive).
"""

from __future__ import annotations

import numpy as np


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(_errors(actual, forecast))))


def mse(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean squared error."""
    return float(np.mean(_errors(actual, forecast) ** 2))


def rmse(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Root mean squared error."""
    return float(np.sqrt(mse(actual, forecast)))


def mape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute percentage error (percent), over the actual values that are not zero."""
    errors = _errors(actual, forecast)
    actual = np.asarray(actual, dtype=np.float64)
    nonzero = actual != 0
    if not nonzero.any():
        return float("nan")
    return float(100.0 * np.mean(np.abs(errors[nonzero]) / np.abs(actual[nonzero])))


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric mean absolute percentage error (percent, 0 to 200)."""
    errors = np.abs(_errors(actual, forecast))
    scale = np.abs(np.asarray(actual, dtype=np.float64)) + np.abs(np.asarray(forecast, np.float64))
    ratio = np.divide(2.0 * errors, scale, out=np.zeros_like(errors), where=scale > 0)
    return float(100.0 * np.mean(ratio))


def naive_scale(training: np.ndarray, season: int = 1) -> float:
    """In-sample MAE of the seasonal naive forecast on ``training (T,)``: MASE's denominator."""
    training = np.asarray(training, dtype=np.float64)
    if season < 1:
        raise ValueError(f"season must be >= 1, got {season}")
    if len(training) <= season:
        raise ValueError(f"need more than season={season} training values, got {len(training)}")
    return float(np.mean(np.abs(training[season:] - training[:-season])))


def mase(actual: np.ndarray, forecast: np.ndarray, training: np.ndarray, season: int = 1) -> float:
    """Mean absolute scaled error of one series: MAE over ``naive_scale(training, season)``."""
    scale = naive_scale(training, season)
    if scale == 0:
        return float("nan")
    return mae(actual, forecast) / scale


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Fraction of ``actual`` within ``[lower, upper]``."""
    actual = np.asarray(actual, dtype=np.float64)
    if np.shape(lower) != actual.shape or np.shape(upper) != actual.shape:
        raise ValueError(
            f"bounds must match actual's shape {actual.shape}, got "
            f"{np.shape(lower)} and {np.shape(upper)}"
        )
    return float(np.mean((actual >= lower) & (actual <= upper)))


def point_metrics(actual: np.ndarray, forecast: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, MSE, MAPE and sMAPE in one dict."""
    return {
        "mae": mae(actual, forecast),
        "rmse": rmse(actual, forecast),
        "mse": mse(actual, forecast),
        "mape": mape(actual, forecast),
        "smape": smape(actual, forecast),
    }


# ----------------------------------------------------------------------------- baselines


def naive_forecast(history: np.ndarray, horizon: int) -> np.ndarray:
    """The last value of ``history (T, ...)`` repeated: ``(horizon, ...)``."""
    history = np.asarray(history)
    return np.repeat(history[-1:], horizon, axis=0)


def seasonal_naive_forecast(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The last season of ``history (T, ...)`` repeated: step ``h`` gets ``y[T - m + h mod m]``."""
    history = np.asarray(history)
    if season < 1 or len(history) < season:
        raise ValueError(
            f"need season >= 1 and at least season values, got {season}, {len(history)}"
        )
    last_season = history[len(history) - season :]
    return last_season[np.arange(horizon) % season]


def backtest_origins(span_start: int, span_end: int, lookback: int, horizon: int, stride: int):
    """Forecast origins of a rolling-origin backtest over ``[span_start, span_end)``.

    An origin ``o`` forecasts rows ``o .. o + horizon - 1`` from rows before ``o``; origins step by
    ``stride`` from the first one with ``lookback`` rows of history, and the last one's forecast
    ends inside the span. Returns an integer array (maybe empty).
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    first = max(span_start, lookback)
    return np.arange(first, span_end - horizon + 1, stride, dtype=np.int64)


def _errors(actual: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    actual = np.asarray(actual, dtype=np.float64)
    forecast = np.asarray(forecast, dtype=np.float64)
    if actual.shape != forecast.shape:
        raise ValueError(f"actual and forecast shapes differ: {actual.shape} vs {forecast.shape}")
    if actual.size == 0:
        raise ValueError("cannot score an empty forecast")
    return actual - forecast
