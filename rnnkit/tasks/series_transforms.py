"""The target transform of a forecast run (``--transform``): the table the model sees, forecasts
turned back into the file's units, and the automatic choice on the validation split.

The model reads the transformed targets, scaled by a scaler fitted on them; a forecast goes back
through the scaler's inverse, then the transform's (``rnnkit.data.transforms``), which for ``diff``
needs the last raw value before the forecast.

``--transform auto`` fits, for every transform the training targets allow, a ridge regression with
the model's own window arithmetic (``window_statistics``, the seasonal-naive residual) on the
training windows, and keeps the transform whose validation forecasts have the smallest mean
absolute error in the file's units (scaled per series by the in-sample seasonal-naive error):
a linear stand-in for the network, fitted in a fraction of a second.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from rnnkit.data import transforms
from rnnkit.data.series import SeriesScaler, SeriesTable
from rnnkit.data.windows import TRAIN, VALIDATION, Spans, Windows, fit_scaler, make_windows
from rnnkit.errors import UserError
from rnnkit.metrics import forecast as fm
from rnnkit.models.forecaster import seasonal_naive, window_statistics

CHOICES = ("auto", *transforms.TRANSFORMS)
#: ridge penalty of the linear stand-in, in normalised units
_RIDGE = 1.0


def transformed_table(table: SeriesTable, name: str) -> SeriesTable:
    """``table`` with every series' targets transformed by ``name`` (covariates unchanged)."""
    if name == "none":
        return table
    series = [
        dataclasses.replace(s, values=transforms.forward(name, s.values)) for s in table.series
    ]
    return dataclasses.replace(table, series=series)


def to_file_units(
    name: str,
    scaler: SeriesScaler,
    series_name: str,
    scaled: np.ndarray,
    last: np.ndarray,
) -> np.ndarray:
    """Forecasts ``scaled (..., H, n)`` of one series, in the scaler's units of the transformed
    targets, back in the file's units; ``last (..., n)``: the raw value before each forecast."""
    n = scaled.shape[-1]
    transformed = scaler.inverse(series_name, scaled, slice(0, n))
    return transforms.inverse(name, transformed, last)


def check_transform(name: str, table: SeriesTable, data: object) -> None:
    """``UserError`` when ``--transform log`` meets a value that is not positive."""
    if name == "log" and not all(transforms.applicable("log", s.values) for s in table.series):
        raise UserError(
            f"--transform log needs positive targets but {data} has values <= 0; use "
            "--transform none, diff or auto."
        )


def choose_transform(
    table: SeriesTable,
    spans: Spans,
    lookback: int,
    horizon: int,
    season: int,
    relative: bool,
    normalise: str,
) -> tuple[str, dict[str, float]]:
    """The transform with the smallest validation error of the linear stand-in, and each
    candidate's error (scaled MAE; NaN where it could not be measured). ``none`` when no
    candidate has validation windows."""
    errors = {}
    for name in transforms.TRANSFORMS:
        if not all(transforms.applicable(name, s.values) for s in table.series):
            continue
        errors[name] = _validation_error(
            table, spans, name, lookback, horizon, season, relative, normalise
        )
    finite = {k: v for k, v in errors.items() if math.isfinite(v)}
    return (min(finite, key=finite.get) if finite else "none"), errors


def _validation_error(
    table: SeriesTable,
    spans: Spans,
    name: str,
    lookback: int,
    horizon: int,
    season: int,
    relative: bool,
    normalise: str,
) -> float:
    model_table = transformed_table(table, name)
    scaler = fit_scaler(model_table, spans)
    train = make_windows(model_table, scaler, lookback, horizon, TRAIN, spans)
    val = make_windows(model_table, scaler, lookback, horizon, VALIDATION, spans)
    if len(train) == 0 or len(val) == 0:
        return math.nan
    x, base, spread = _features(train, horizon, season, relative, normalise)
    residual = ((train.future.double() - base) / spread).flatten(1)
    gram = x.T @ x + _RIDGE * torch.eye(x.shape[1], dtype=x.dtype)
    weights = torch.linalg.solve(gram, x.T @ residual)
    x_val, base_val, spread_val = _features(val, horizon, season, relative, normalise)
    predicted = (base_val + spread_val * (x_val @ weights).view_as(base_val)).numpy()
    by_name = {s.name: s for s in table.series}
    errors = []
    for series_name in dict.fromkeys(val.series):
        rows = np.array([s == series_name for s in val.series])
        series = by_name[series_name]
        origins = val.origins[rows]
        last = series.values[origins - 1]
        forecast = to_file_units(name, scaler, series_name, predicted[rows], last)
        actual = np.stack([series.values[o : o + horizon] for o in origins])
        training = series.values[: spans.train_end(series_name)]
        scale = max(fm.naive_scale(training[:, 0], min(season or 1, len(training) - 1)), 1e-12)
        errors.append(fm.mae(actual, forecast) / scale)
    return float(np.mean(errors))


def _features(
    windows: Windows, horizon: int, season: int, relative: bool, normalise: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs ``(N, L * n + 1)``, baseline ``(N, H, n)`` and spread ``(N, 1, n)`` of windows."""
    history = windows.history.double()
    offset, spread = window_statistics(history, relative, normalise)
    if season:
        base = seasonal_naive(history, horizon, season)
    else:
        base = offset.expand(-1, horizon, -1)
    x = ((history - offset) / spread).flatten(1)
    return torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1), base, spread
