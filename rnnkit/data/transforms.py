"""Invertible transforms of a series' targets, applied before scaling: ``none``, ``log``, ``diff``.

Notation: ``T`` rows, ``n`` targets, ``H`` forecast steps.

- ``log``: ``y -> log(y)``; every value must be positive. The inverse is ``exp``.
- ``diff``: ``y_t -> y_t - y_{t-1}``, with row 0 mapped to 0. A forecast of differences from an
  origin ``o`` becomes levels by adding its running sum to the last known level ``y_{o-1}``.

``forward`` maps a whole series; ``inverse`` maps forecasts back, given the last raw value before
each forecast (which ``diff`` needs and the others ignore). ``applicable`` says whether a series
can take a transform (``log`` needs positive values), so that an automatic choice skips it.
"""

from __future__ import annotations

import numpy as np

TRANSFORMS = ("none", "log", "diff")


def applicable(name: str, values: np.ndarray) -> bool:
    """Whether ``values (T, n)`` can be transformed by ``name`` (``log``: all positive)."""
    _check(name)
    if name == "log":
        return bool(np.all(np.asarray(values) > 0))
    return True


def forward(name: str, values: np.ndarray) -> np.ndarray:
    """``values (T, n)`` transformed, same shape (float64)."""
    _check(name)
    values = np.asarray(values, dtype=np.float64)
    if name == "log":
        if not applicable(name, values):
            raise ValueError("the log transform needs positive values")
        return np.log(values)
    if name == "diff":
        out = np.zeros_like(values)
        out[1:] = values[1:] - values[:-1]
        return out
    return values.copy()


def inverse(name: str, forecast: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Forecasts ``(..., H, n)`` in transformed units back to the series' units.

    ``last (..., n)``: the last raw value before each forecast's first step (used by ``diff``).
    """
    _check(name)
    forecast = np.asarray(forecast, dtype=np.float64)
    if name == "log":
        return np.exp(forecast)
    if name == "diff":
        return np.asarray(last, dtype=np.float64)[..., None, :] + np.cumsum(forecast, axis=-2)
    return forecast


def _check(name: str) -> None:
    if name not in TRANSFORMS:
        raise ValueError(f"transform must be one of {TRANSFORMS}, got {name!r}")
