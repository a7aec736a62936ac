"""The target transform of a forecast run (``--transform``): the table the model sees, forecasts
turned back into the file's units, and the automatic choice on the validation split.

The model reads the transformed targets, scaled by a scaler fitted on them; a forecast goes back
through the scaler's inverse, then the transform's (``rnnkit.data.transforms``), which for ``diff``
needs the last raw value before the forecast.

``--transform auto`` fits, for every transform the training targets allow, the forecaster's own
linear autoregression (``rnnkit.models.linear_ar``: the normalised window, the seasonal-naive
residual) with every ridge penalty of ``linear_ar.PENALTIES``, and keeps the transform and penalty
whose forecasts have the smallest mean absolute error in the file's units (scaled per series by
the in-sample seasonal-naive error) over rolling-origin folds: the validation span, fitted on the
training windows, and up to two spans of its length before it, each fitted on the windows before
it (one split of a short series is a noisy judge). The network's linear part, fitted in a
fraction of a second. ``choose_penalty`` makes the same choice of the penalty for a
transform the user fixed.
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
from rnnkit.models import linear_ar

CHOICES = ("auto", *transforms.TRANSFORMS)
#: rolling-origin folds the linear part's transform and penalty are chosen on (at most)
ROLLING_FOLDS = 3


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
) -> tuple[str, float, dict[str, float]]:
    """The transform and ridge penalty with the smallest validation error of the linear
    autoregression, and each transform's best error (scaled MAE; NaN where it could not be
    measured). ``none`` (and ``linear_ar.DEFAULT_PENALTY``) when no candidate has validation
    windows."""
    errors, penalties = {}, {}
    for name in transforms.TRANSFORMS:
        if not all(transforms.applicable(name, s.values) for s in table.series):
            continue
        penalties[name], errors[name] = choose_penalty(
            table, spans, name, lookback, horizon, season, relative, normalise
        )
    finite = {k: v for k, v in errors.items() if math.isfinite(v)}
    if not finite:
        return "none", linear_ar.DEFAULT_PENALTY, errors
    best = min(finite, key=finite.get)
    return best, penalties[best], errors


def choose_penalty(
    table: SeriesTable,
    spans: Spans,
    name: str,
    lookback: int,
    horizon: int,
    season: int,
    relative: bool,
    normalise: str,
) -> tuple[float, float]:
    """The ridge penalty (per regression row) of the linear autoregression on the targets
    transformed by ``name`` with the smallest rolling-origin validation error, and that error
    (NaN, and ``linear_ar.DEFAULT_PENALTY``, without training or validation windows).

    The error is the mean over the folds of ``rolling_folds``: fitted on the windows whose
    targets end before a fold, scored on the fold's windows.
    """
    model_table = transformed_table(table, name)
    scaler = fit_scaler(model_table, spans)
    train = make_windows(model_table, scaler, lookback, horizon, TRAIN, spans)
    val = make_windows(model_table, scaler, lookback, horizon, VALIDATION, spans)
    if len(train) == 0 or len(val) == 0:
        return linear_ar.DEFAULT_PENALTY, math.nan
    pool = _joined_windows(train, val)
    folds = rolling_folds(pool, spans, horizon, min_fit=lookback)
    designs = []
    for fit_rows, score_rows in folds:
        fit, scored = _subset(pool, fit_rows), _subset(pool, score_rows)
        x, y, _, _ = linear_ar.design(fit.history, fit.future, season, relative, normalise)
        designs.append(
            (
                x,
                y,
                scored,
                *linear_ar.design(scored.history, scored.future, season, relative, normalise),
            )
        )
    errors = {}
    for factor in linear_ar.PENALTIES:
        fold_errors = []
        for x, y, scored, x_val, _, base, spread in designs:
            weight, bias = linear_ar.ridge(x, y, factor * len(x))
            predicted = linear_ar.predict(x_val, base, spread, weight, bias).numpy()
            fold_errors.append(
                _file_unit_error(table, spans, name, scaler, scored, predicted, horizon, season)
            )
        errors[factor] = float(np.mean(fold_errors))
    best = min(errors, key=errors.get)
    return best, errors[best]


def rolling_folds(
    windows: Windows, spans: Spans, horizon: int, min_fit: int, folds: int = ROLLING_FOLDS
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Rolling-origin folds of training and validation ``windows``: ``(fit, scored)`` row masks.

    Fold ``k = 0, 1, ...`` of a series whose validation span has ``V`` rows starts ``k * V``
    rows before the validation span: it scores the windows whose targets all lie in its ``V``
    rows and fits on those whose targets end before it (fold 0 is the validation split). Only
    folds that fit on at least ``min_fit`` windows are kept; fold 0 always is.
    """
    starts = np.array([spans.train_end(s) for s in windows.series])
    lengths = np.array([spans.ends[s][VALIDATION] - spans.train_end(s) for s in windows.series])
    ends = windows.origins + horizon  # one past each window's last target row
    result = []
    for k in range(folds):
        cut = starts - k * lengths
        fit = ends <= cut
        scored = (windows.origins >= cut) & (ends <= cut + lengths)
        if k == 0 or (fit.sum() >= min_fit and scored.any()):
            result.append((fit, scored))
    return result


def _joined_windows(first: Windows, second: Windows) -> Windows:
    return Windows(
        history=torch.cat([first.history, second.history]),
        covariates=torch.cat([first.covariates, second.covariates]),
        future=torch.cat([first.future, second.future]),
        series=[*first.series, *second.series],
        origins=np.concatenate([first.origins, second.origins]),
    )


def _subset(windows: Windows, rows: np.ndarray) -> Windows:
    index = np.flatnonzero(rows)
    return Windows(
        history=windows.history[index],
        covariates=windows.covariates[index],
        future=windows.future[index],
        series=[windows.series[i] for i in index],
        origins=windows.origins[index],
    )


def _file_unit_error(
    table: SeriesTable,
    spans: Spans,
    name: str,
    scaler: SeriesScaler,
    val: Windows,
    predicted: np.ndarray,
    horizon: int,
    season: int,
) -> float:
    """Mean over series of the MAE of ``predicted (N, H, n)`` (scaled units of the transformed
    targets) in the file's units, over the series' in-sample seasonal-naive MAE."""
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
