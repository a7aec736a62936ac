"""Prediction intervals of a point forecaster, calibrated on its validation residuals.

A forecast's error grows with the horizon step and with how much the series moves. So each
residual ``r[i, h] = actual - forecast`` (file units) is divided by the series' recent movement
``s_i = mean |y_t - y_{t-1}|`` over the ``SCALE_LOOKBACKS`` lookbacks of rows before the
forecast (``window_scale``; over one lookback it is too noisy on a noisy series) and by the
step's spread ``sigma_h`` (the RMS of those scaled residuals at step ``h``, made non-decreasing
in ``h``); the quantiles ``z_q`` of the pooled ``r / (s sigma)`` are the calibration:
symmetric ones, ``z_q = sign(q - 1/2) * Q_{|2q - 1|}(|r / (s sigma)|)`` (split conformal's
absolute-residual score), since the sign of a short series' bias seldom lasts from one span to
the next (the airline's validation years are over-forecast, the two years before them
under-forecast); ``symmetric=False`` takes the signed quantiles. A
forecast's interval at level ``q`` is then ``forecast + z_q * sigma_h * s_i`` (split conformal:
the residuals come from windows the model did not train on). The quantile's level is split
conformal's finite-sample one, ``ceil((N + 1) p) / N`` for a central share ``p`` over ``N``
calibration windows (``conformal_level``): the windows are the exchangeable units (a window's
steps are one draw), and a short series calibrates on few of them (the airline's 36-month backtest
on 26: its 80% interval takes the 84.6% quantile). The task pools the model's
validation residuals with the out-of-sample residuals of its linear part on the earlier rolling
folds (``rnnkit.tasks.series_transforms.fold_forecasts``): more windows, from more of the
series' past, than the validation span alone holds.

With ``log`` (a run whose targets go through ``--transform log``) all of it happens on the log
values: residuals ``log(actual) - log(forecast)``, the movement ``s`` of the log history, and
the interval ``forecast * exp(z_q * sigma_h * s_i)``. A series whose swings grow with its level
has errors that grow with it; on the log scale they stay alike, so intervals calibrated on an
earlier, lower stretch still fit a later, higher one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

_EPS = 1e-12
#: how many lookbacks of history the movement ``s`` of a forecast is measured over
SCALE_LOOKBACKS = 4


def conformal_level(share: float, count: int) -> float:
    """Split conformal's level for a central ``share`` of ``count`` exchangeable scores: the
    ``ceil((count + 1) * share) / count`` quantile of them holds a new score with probability at
    least ``share``; capped at 1 (the largest score) where so few cannot promise it."""
    rank = math.ceil(round((count + 1) * share, 9))
    return min(1.0, rank / count)


def to_log(values: np.ndarray) -> np.ndarray:
    """``log(values)``, values below a tiny positive number clipped to it."""
    return np.log(np.maximum(np.asarray(values, dtype=np.float64), _EPS))


def movement(history: np.ndarray, log: bool = False) -> np.ndarray:
    """``(N, n)``: the scale ``s`` of histories ``(N, R, n)``, of their logs with ``log``."""
    return window_scale(to_log(history) if log else history)


def recent_movement(
    values: np.ndarray, origin: int, lookback: int, log: bool = False
) -> np.ndarray:
    """``(n,)``: the movement ``s`` of a forecast from row ``origin`` of a series ``values (T, n)``:
    over the ``SCALE_LOOKBACKS * lookback`` rows before it (fewer at the series' start)."""
    recent = values[max(0, origin - SCALE_LOOKBACKS * lookback) : origin]
    return movement(recent[None], log)[0]


def window_scale(history: np.ndarray) -> np.ndarray:
    """``(N, n)``: the mean absolute one-step change of each history ``(N, R, n)``."""
    history = np.asarray(history, dtype=np.float64)
    if history.shape[1] < 2:
        return np.maximum(np.abs(history[:, -1]), _EPS)
    changes = np.abs(np.diff(history, axis=1)).mean(axis=1)
    return np.maximum(changes, _EPS)


@dataclass
class Intervals:
    """``levels`` (Q,), the step spreads ``spread`` (H,), pooled quantiles ``z`` (Q,), and
    whether they were calibrated on log values (``log``)."""

    levels: list[float]
    spread: list[float]
    z: list[float]
    log: bool = False

    @classmethod
    def fit(
        cls,
        actual: np.ndarray,
        forecast: np.ndarray,
        scale: np.ndarray,
        levels: list[float],
        log: bool = False,
        symmetric: bool = True,
    ) -> Intervals:
        """Calibrate on ``actual``/``forecast`` ``(N, H, n)`` with window scales ``(N, n)``
        (``movement``; of the log histories with ``log``): symmetric quantiles of the scaled
        residuals, or with ``symmetric=False`` their signed quantiles, each at its conformal
        level over the ``N`` windows."""
        if log:
            actual, forecast = to_log(actual), to_log(forecast)
        residual = (np.asarray(actual) - np.asarray(forecast)) / scale[:, None, :]
        spread = np.sqrt(np.mean(residual**2, axis=(0, 2)))  # (H,)
        spread = np.maximum.accumulate(np.maximum(spread, _EPS))
        pooled = (residual / spread[None, :, None]).ravel()
        windows = len(residual)
        if symmetric:
            size = np.abs(pooled)
            z = [
                float(
                    np.sign(q - 0.5) * np.quantile(size, conformal_level(abs(2 * q - 1), windows))
                )
                for q in levels
            ]
        else:
            z = [float(np.quantile(pooled, _signed_level(q, windows))) for q in levels]
        return cls(levels=[float(q) for q in levels], spread=spread.tolist(), z=z, log=log)

    def quantiles(self, forecast: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """``(N, S, n, Q)`` quantiles of forecasts ``(N, S, n)`` with window scales ``(N, n)``.

        Steps past the calibrated horizon reuse the last step's spread.
        """
        steps = forecast.shape[1]
        spread = np.asarray(self.spread)[np.minimum(np.arange(steps), len(self.spread) - 1)]
        width = spread[None, :, None, None] * scale[:, None, :, None] * np.asarray(self.z)
        if self.log:
            return np.exp(to_log(forecast)[..., None] + width)
        return forecast[..., None] + width

    def to_dict(self) -> dict[str, Any]:
        return {"levels": self.levels, "spread": self.spread, "z": self.z, "log": self.log}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Intervals:
        return cls(
            list(values["levels"]),
            list(values["spread"]),
            list(values["z"]),
            bool(values.get("log", False)),
        )


def _signed_level(level: float, count: int) -> float:
    """The conformal level of a one-sided quantile ``level`` over ``count`` windows: moved away
    from the median (the median itself stays)."""
    if level > 0.5:
        return conformal_level(level, count)
    if level < 0.5:
        return 1.0 - conformal_level(1.0 - level, count)
    return level
