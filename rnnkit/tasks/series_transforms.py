"""The target transform of a forecast run (``--transform``): the table the model sees, forecasts
turned back into the file's units, and the automatic choice on the validation split.

The model reads the transformed targets, scaled by a scaler fitted on them; a forecast goes back
through the scaler's inverse, then the transform's (``rnnkit.data.transforms``), which for ``diff``
needs the last raw value before the forecast.

``--transform auto`` fits, for every transform the training targets allow, the forecaster's own
linear autoregression (``rnnkit.models.linear_ar``: the normalised window, the seasonal-naive
residual) with every ridge penalty of ``linear_ar.PENALTIES``, and scores each by the mean
absolute error of its forecasts in the file's units (scaled per series by the in-sample
seasonal-naive error) over rolling-origin folds: the validation span, fitted on the training
windows, and up to two spans of its length before it, each fitted on the windows before it (one
split of a short series is a noisy judge). The transform is the one whose best penalty scores
best; the linear part then averages the fits of that transform's ``linear_ar.COMBINED`` best
penalties (a forecast combination: a few folds often pick a light penalty whose trend does not
last; the average of the best few is steadier). The network's linear part, fitted in a fraction
of a second.

The base the linear part shrinks to (and the network corrects) is the seasonal-naive forecast of
``--season``, unless the naive one (the last value) beats it on every fold (``choose_linear``,
``--base auto``): a daily series given a weekly season it barely has, or a noisy one whose
seasonal lag repeats last season's noise, forecasts better from its last value. Since the model
reads each window relative to its last value, the two bases differ only in the ridge's
shrinkage target: no seasonal lag, or the lag of the season.

``choose_linear`` makes the same choices for a transform the user fixed, and ``fold_forecasts``
gives the combined linear part's forecasts of the earlier folds, out of sample, for calibrating
intervals.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from rnnkit.data import transforms
from rnnkit.data.series import SeriesScaler, SeriesTable
from rnnkit.data.windows import TRAIN, VALIDATION, Spans, Windows, fit_scaler, make_windows
from rnnkit.errors import UserError
from rnnkit.metrics import forecast as fm
from rnnkit.models import linear_ar

CHOICES = ("auto", *transforms.TRANSFORMS)
#: the scaler of a transformed table, its training and validation windows joined, their folds
RollingSetup = tuple[SeriesScaler, Windows, list[tuple[np.ndarray, np.ndarray]]]
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


#: what ``--base`` may say: the base the linear part shrinks to and the network corrects
BASES = ("auto", "seasonal", "naive")


@dataclass(frozen=True)
class LinearChoice:
    """What the validation folds fix of a run's linear part: the target ``transform``, the
    ``season`` of its base forecast (the user's season: seasonal naive; 1: naive; 0: the window
    offset, without a residual), the ridge ``penalties`` (per regression row) whose fits it
    averages, best first, and the best penalty's mean fold ``error`` (scaled MAE; NaN when
    nothing could be measured)."""

    transform: str
    season: int
    penalties: tuple[float, ...]
    error: float


def base_seasons(season: int, base: str) -> tuple[int, ...]:
    """The base seasons ``--base`` allows for the user's ``season`` (0: no residual, 1: none
    given): ``auto`` weighs seasonal naive against naive when there is a season to weigh."""
    if base not in BASES:
        raise ValueError(f"unknown base {base!r}")
    if season <= 1 or base == "seasonal":
        return (season,)
    return (1,) if base == "naive" else (season, 1)


def choose_transform(
    table: SeriesTable,
    spans: Spans,
    lookback: int,
    horizon: int,
    season: int,
    relative: bool,
    normalise: str,
    base: str = "auto",
) -> tuple[LinearChoice, dict[str, float]]:
    """The transform whose linear autoregression (base and penalties chosen by ``choose_linear``)
    has the smallest validation error, and each transform's best error (scaled MAE; NaN where it
    could not be measured). ``none`` with ``linear_ar.DEFAULT_PENALTY`` when no candidate has
    validation windows."""
    choices = {
        name: choose_linear(
            table, spans, name, lookback, horizon, season, relative, normalise, base
        )
        for name in transforms.TRANSFORMS
        if all(transforms.applicable(name, s.values) for s in table.series)
    }
    errors = {name: choice.error for name, choice in choices.items()}
    finite = {k: v for k, v in errors.items() if math.isfinite(v)}
    if not finite:
        return choose_linear(
            table, spans, "none", lookback, horizon, season, relative, normalise, base
        ), errors
    return choices[min(finite, key=finite.get)], errors


def choose_linear(
    table: SeriesTable,
    spans: Spans,
    name: str,
    lookback: int,
    horizon: int,
    season: int,
    relative: bool,
    normalise: str,
    base: str = "auto",
) -> LinearChoice:
    """The base and the ridge penalties of the linear autoregression on the targets transformed
    by ``name``.

    With ``base="auto"`` and a season over 1, the naive base (the last value, which the ridge's
    penalty then shrinks to) replaces the seasonal-naive one only when its best penalty's
    forecasts beat the seasonal base's best on every rolling fold: the user's ``--season`` is
    the prior, set aside only on evidence that holds fold after fold (a series given a season it
    does not have, or whose noise the seasonal lag repeats). Both are scored in the same units:
    MAE over the in-sample seasonal-naive MAE of ``season``.
    """
    candidates = base_seasons(season, base)
    setup = _rolling_setup(table, spans, name, lookback, horizon)
    if setup is None:
        return LinearChoice(name, candidates[0], (linear_ar.DEFAULT_PENALTY,), math.nan)
    ranked = {
        candidate: rank_penalties(table, spans, name, setup, candidate, relative, normalise, season)
        for candidate in candidates
    }
    chosen = candidates[0]
    if len(ranked) == 2:
        seasonal, naive = ranked[season][1], ranked[1][1]
        chosen = 1 if bool(np.all(naive < seasonal)) else season
    penalties, fold_errors = ranked[chosen]
    return LinearChoice(name, chosen, penalties, float(np.mean(fold_errors)))


def rank_penalties(
    table: SeriesTable,
    spans: Spans,
    name: str,
    setup: RollingSetup,
    season: int,
    relative: bool,
    normalise: str,
    scale_season: int,
) -> tuple[tuple[float, ...], np.ndarray]:
    """The ``linear_ar.COMBINED`` penalties with the smallest mean rolling-origin errors, best
    first, and the best one's error on each fold ``(F,)``.

    A penalty's error on a fold of ``setup`` (``_rolling_setup`` of the targets transformed by
    ``name``): the linear part with the base of ``season``, fitted on the windows whose targets
    end before the fold, scored on the fold's windows by its MAE in the file's units over the
    in-sample seasonal-naive MAE of ``scale_season``.
    """
    scaler, pool, folds = setup
    predictions = _fold_predictions(pool, folds, linear_ar.PENALTIES, season, relative, normalise)
    errors = {}
    for index, factor in enumerate(linear_ar.PENALTIES):
        errors[factor] = np.array(
            [
                _file_unit_error(
                    table,
                    spans,
                    name,
                    scaler,
                    _subset(pool, scored),
                    predicted[index],
                    scale_season,
                )
                for (_, scored), predicted in zip(folds, predictions, strict=True)
            ]
        )
    ranked = sorted(errors, key=lambda factor: float(np.mean(errors[factor])))
    return tuple(ranked[: linear_ar.COMBINED]), errors[ranked[0]]


@dataclass
class FoldForecasts:
    """Out-of-sample forecasts of the windows of the earlier rolling folds, in the file's
    units: ``forecast``, ``actual`` ``(N, H, n)``, each window's ``series`` and ``origins``."""

    forecast: np.ndarray
    actual: np.ndarray
    series: list[str]
    origins: np.ndarray


def fold_forecasts(
    table: SeriesTable,
    spans: Spans,
    name: str,
    penalties: tuple[float, ...],
    lookback: int,
    horizon: int,
    season: int,
    relative: bool,
    normalise: str,
) -> FoldForecasts | None:
    """The forecasts of the linear part (the mean fit of ``penalties`` on the targets transformed
    by ``name``) of every window of the rolling folds before the validation span (folds 1, 2...),
    each fold fitted on the windows whose targets end before it; None when there is no such
    fold."""
    setup = _rolling_setup(table, spans, name, lookback, horizon)
    if setup is None or len(setup[2]) < 2:
        return None
    scaler, pool, folds = setup
    earlier = folds[1:]
    predictions = _fold_predictions(pool, earlier, penalties, season, relative, normalise)
    forecasts, actuals, series, origins = [], [], [], []
    for (_, scored_rows), predicted in zip(earlier, predictions, strict=True):
        scored = _subset(pool, scored_rows)
        forecast, actual = _to_file_units(table, name, scaler, scored, np.mean(predicted, axis=0))
        forecasts.append(forecast)
        actuals.append(actual)
        series += scored.series
        origins.append(scored.origins)
    return FoldForecasts(
        forecast=np.concatenate(forecasts),
        actual=np.concatenate(actuals),
        series=series,
        origins=np.concatenate(origins),
    )


def _rolling_setup(
    table: SeriesTable, spans: Spans, name: str, lookback: int, horizon: int
) -> RollingSetup | None:
    """The scaler of the ``name``-transformed table, its training and validation windows joined,
    and their rolling folds; None without training or validation windows."""
    model_table = transformed_table(table, name)
    scaler = fit_scaler(model_table, spans)
    train = make_windows(model_table, scaler, lookback, horizon, TRAIN, spans)
    val = make_windows(model_table, scaler, lookback, horizon, VALIDATION, spans)
    if len(train) == 0 or len(val) == 0:
        return None
    pool = _joined_windows(train, val)
    return scaler, pool, rolling_folds(pool, spans, horizon, min_fit=lookback)


def _fold_predictions(
    pool: Windows,
    folds: list[tuple[np.ndarray, np.ndarray]],
    factors: tuple[float, ...],
    season: int,
    relative: bool,
    normalise: str,
) -> list[np.ndarray]:
    """Per fold, ``(P, N, H, n)``: the linear part's forecasts (scaled units of the transformed
    targets) of the fold's scored windows, fitted on its fitting windows with each penalty."""
    result = []
    for fit_rows, score_rows in folds:
        fit, scored = _subset(pool, fit_rows), _subset(pool, score_rows)
        x, y, _, _ = linear_ar.design(fit.history, fit.future, season, relative, normalise)
        x_val, _, base, spread = linear_ar.design(
            scored.history, scored.future, season, relative, normalise
        )
        fits = [linear_ar.ridge(x, y, factor * len(x)) for factor in factors]
        result.append(
            np.stack([linear_ar.predict(x_val, base, spread, w, b).numpy() for w, b in fits])
        )
    return result


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


def _to_file_units(
    table: SeriesTable, name: str, scaler: SeriesScaler, windows: Windows, predicted: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Forecasts ``predicted (N, H, n)`` of ``windows`` (scaled units of the targets transformed
    by ``name``) in the file's units, and the actual values ``(N, H, n)``."""
    by_name = {s.name: s for s in table.series}
    horizon = predicted.shape[1]
    forecast = np.empty(predicted.shape, dtype=np.float64)
    actual = np.empty(predicted.shape, dtype=np.float64)
    for series_name in dict.fromkeys(windows.series):
        rows = np.array([s == series_name for s in windows.series])
        values = by_name[series_name].values
        origins = windows.origins[rows]
        last = values[origins - 1]
        forecast[rows] = to_file_units(name, scaler, series_name, predicted[rows], last)
        actual[rows] = np.stack([values[o : o + horizon] for o in origins])
    return forecast, actual


def _file_unit_error(
    table: SeriesTable,
    spans: Spans,
    name: str,
    scaler: SeriesScaler,
    val: Windows,
    predicted: np.ndarray,
    season: int,
) -> float:
    """Mean over series of the MAE of ``predicted (N, H, n)`` (scaled units of the transformed
    targets) in the file's units, over the series' in-sample seasonal-naive MAE."""
    forecast, actual = _to_file_units(table, name, scaler, val, predicted)
    by_name = {s.name: s for s in table.series}
    errors = []
    for series_name in dict.fromkeys(val.series):
        rows = np.array([s == series_name for s in val.series])
        training = by_name[series_name].values[: spans.train_end(series_name)]
        scale = max(fm.naive_scale(training[:, 0], min(season or 1, len(training) - 1)), 1e-12)
        errors.append(fm.mae(actual[rows], forecast[rows]) / scale)
    return float(np.mean(errors))
