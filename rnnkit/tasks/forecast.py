"""Forecasting: from a table of time series to a run directory that backtests and forecasts.

The Python API behind ``rnnkit train forecast``, ``rnnkit forecast`` and ``rnnkit evaluate`` /
``info`` on a forecast run::

    from rnnkit.tasks import forecast

    run_dir = forecast.train(forecast.ForecastOptions(
        data="sales.csv", out="runs/sales", target="sales", time_column="date",
        lookback=48, horizon=12, season=12, epochs=20))
    forecast.evaluate(run_dir, "sales.csv")      # backtest metrics, with naive baselines
    table = forecast.forecast(run_dir, "sales.csv", steps=12, output="next.csv")

Every series is split in time into train/validation/test spans (``--split``); scalers are fitted
on the training span of each series and saved as ``scaler.json`` (a resumed run loads it, never
fits it again); training windows have all their targets in the training span, validation windows
in the validation span (their inputs may reach back, as context). After training, and in
``evaluate``, a rolling-origin backtest runs over the test span: forecasts from origins
``backtest_stride`` rows apart, each from the ``lookback`` rows before it, scored in the file's
units against the same forecasts of the naive and seasonal-naive methods. Training reports the
backtest's MASE on stderr and stores the backtest as ``results["test"]``.

The defaults are the methods that make a small recurrent net beat the classic baselines: each
window is normalised by its own spread (``--normalise window``), the forecast is the
seasonal-naive forecast of ``--season`` (``--residual``) plus a linear autoregression over the
normalised window (``--linear``, LSTNet's highway, fitted in closed form before training:
``rnnkit.models.linear_ar``) plus the network's correction; the targets' transform and the linear
part's ridge penalties are chosen together on rolling-origin validation folds (``--transform
auto``: ``rnnkit.tasks.series_transforms``; the linear part is the average of the best three
penalties' fits); once trained, the network's part is shrunk towards
the linear forecast by a weight chosen on the validation windows (``NET_WEIGHTS``;
``results.net_weight``); the hidden size and the ensemble (``--ensemble K`` nets averaged) follow
the number of training windows. A point forecaster's intervals (``--quantiles``) are calibrated
on its validation residuals and its linear part's residuals on the earlier rolling folds
(``rnnkit.tasks.forecast_intervals``; on log values for a log transform), stored in config.json's
``intervals`` section. Once the validation span has made those choices, the linear part is
fitted again, with the same penalties, on every window before the test span
(``--refit-linear``): a short series' next years resemble its latest ones most.

A run directory holds ``config.json`` (sections ``options``, ``model``, ``data``, ``results``),
``scaler.json``, ``model.safetensors``, ``metrics.csv``, ``loss.png`` and ``checkpoint/``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from rnnkit.data.series import (
    SINGLE_SERIES,
    Series,
    SeriesColumns,
    SeriesScaler,
    SeriesTable,
    calendar_values,
    future_times,
    load_series,
    parse_split,
    read_frame,
    require_length,
)
from rnnkit.data.transforms import forward as transform_forward
from rnnkit.data.windows import (
    TEST,
    TRAIN,
    VALIDATION,
    Spans,
    Windows,
    fit_scaler,
    make_windows,
)
from rnnkit.errors import UserError
from rnnkit.metrics import forecast as fm
from rnnkit.models import linear_ar
from rnnkit.models.forecaster import DECODERS, LIKELIHOODS, NORMALISATIONS, Forecast, Forecaster
from rnnkit.tasks import lifecycle, series_common
from rnnkit.tasks.forecast_intervals import SCALE_LOOKBACKS, Intervals, movement, recent_movement
from rnnkit.tasks.lifecycle import Prepared, Run
from rnnkit.tasks.options import model_option, option
from rnnkit.tasks.series_transforms import (
    BASES,
    CHOICES,
    FoldForecasts,
    LinearChoice,
    check_transform,
    choose_linear,
    choose_transform,
    fold_forecasts,
    to_file_units,
    transformed_table,
)
from rnnkit.training import WEIGHTS_FILE, StepResult, save_weights

TASK = "forecast"
WINDOWS = "Windows and evaluation"
#: origins scored per model call in a backtest
_BACKTEST_BATCH = 512
#: the shrinkages of a trained network's part towards the linear forecast tried on validation
NET_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass
class ForecastOptions(series_common.SeriesOptions):
    """Everything ``rnnkit train forecast`` takes.

    The series layout (``series_column``, ``split``), the windows (``lookback``, ``horizon``) and
    the model are fixed for a resumed run; the backtest settings (``quantiles``, ``season``,
    ``backtest_stride``) only decide how the trained model is scored.
    """

    series_column: str | None = option(
        None, help="Column naming the series of a long table (one global model).", fixed=True
    )
    lookback: int = option(48, help="Past steps each forecast reads.", panel=WINDOWS, fixed=True)
    horizon: int = option(12, help="Steps forecast at once.", panel=WINDOWS, fixed=True)
    decoder: Literal["direct", "autoregressive"] = model_option(
        "direct",
        help="All steps from one head, or one step at a time fed back.",
    )
    likelihood: Literal["none", "gaussian"] = model_option(
        "none",
        help="gaussian: predict a mean and a spread (prediction intervals).",
    )
    relative: bool = model_option(True, help="Forecast the change from the last history value.")
    normalise: Literal["none", "window"] = model_option(
        "window", help="window: divide each window by its own spread (RevIN-style)."
    )
    residual: bool = model_option(
        True, help="Learn the correction to the seasonal-naive forecast of --season (direct)."
    )
    linear: bool = model_option(
        True,
        help="Add a linear autoregression, fitted in closed form, to the net's output (direct).",
    )
    refit_linear: bool = option(
        True,
        help="Once validation has chosen the net's weight and the intervals, fit the linear part "
        "again on every window before the test span (the latest years included).",
        panel=WINDOWS,
    )
    ensemble: int | None = model_option(
        None, help="Average this many nets, each from its own seed (default: 5 or 1 by windows)."
    )
    hidden: int | None = model_option(
        None, help="Hidden units per layer (default: 16, 32 or 64 by the training windows)."
    )
    transform: Literal["auto", "none", "log", "diff"] = option(
        "auto",
        help="Transform of the targets; auto: chosen on the validation split.",
        panel=WINDOWS,
        fixed=True,
    )
    base: Literal["auto", "seasonal", "naive"] = option(
        "auto",
        help="The forecast the linear part shrinks to and the net corrects: seasonal naive of "
        "--season, naive (the last value), or auto: naive only where it beats seasonal naive on "
        "every rolling validation fold.",
        panel=WINDOWS,
        fixed=True,
    )
    quantiles: str = option(
        "0.1,0.5,0.9",
        help="Quantile levels of the intervals (calibrated on validation residuals).",
        panel=WINDOWS,
    )
    season: int | None = option(
        None, help="Season length for seasonal naive and MASE (default: 1).", panel=WINDOWS
    )
    split: str = option(
        "0.7,0.1,0.2",
        help="Train,validation,test fractions or row counts, in time order.",
        panel=WINDOWS,
        fixed=True,
    )
    backtest_stride: int | None = option(
        None, help="Rows between backtest origins (default: --horizon).", panel=WINDOWS
    )

    def validate(self) -> ForecastOptions:
        """Check every value; raise ``UserError`` naming the first bad option. Returns ``self``."""
        super().validate()
        self.require_whole_numbers("lookback", "horizon")
        self.require_whole_numbers("season", "backtest_stride", optional=True)
        if self.decoder not in DECODERS:
            raise UserError(
                f"--decoder {self.decoder!r} is not known; use direct or autoregressive."
            )
        if self.likelihood not in LIKELIHOODS:
            raise UserError(f"--likelihood {self.likelihood!r} is not known; use none or gaussian.")
        if self.normalise not in NORMALISATIONS:
            raise UserError(f"--normalise {self.normalise!r} is not known; use none or window.")
        if self.transform not in CHOICES:
            raise UserError(
                f"--transform {self.transform!r} is not known; use {', '.join(CHOICES)}."
            )
        if self.base not in BASES:
            raise UserError(f"--base {self.base!r} is not known; use {', '.join(BASES)}.")
        if self.base != "auto" and not self.has_residual:
            raise UserError(
                f"--base {self.base} is the base of the residual; it needs --residual and "
                "--decoder direct."
            )
        self.require_whole_numbers("ensemble", optional=True)
        if self.has_residual and (self.season or 1) > self.lookback:
            raise UserError(
                f"--season {self.season} is longer than --lookback {self.lookback}: the "
                "seasonal-naive residual needs a season of history; raise --lookback or pass "
                "--no-residual."
            )
        parse_quantiles(self.quantiles)
        parse_split(self.split)
        return self

    @property
    def has_residual(self) -> bool:
        """Whether the model learns the correction to a naive forecast (``--residual``, direct)."""
        return self.residual and self.decoder == "direct"

    @property
    def residual_season(self) -> int:
        """The season ``--season`` gives the residual's base: 0 without a residual."""
        return (self.season or 1) if self.has_residual else 0


def parse_quantiles(text: str) -> list[float]:
    """``"0.1,0.5,0.9"`` -> sorted levels strictly between 0 and 1."""
    try:
        levels = sorted(float(p) for p in str(text).split(",") if p.strip())
    except ValueError:
        levels = []
    if not levels or any(not 0.0 < q < 1.0 for q in levels):
        raise UserError(
            f"--quantiles {text!r} is not a list of levels between 0 and 1; write e.g. 0.1,0.5,0.9."
        )
    return levels


def quantile_column(target: str, level: float) -> str:
    """Name of a quantile's output column: ``<target>_q<level>`` (``sales_q0.1``)."""
    return f"{target}_q{level:g}"


# ------------------------------------------------------------------------------------ training


class WindowObjective:
    """Mini-batches of windows; validation scores free-running forecasts (scaled MSE)."""

    monitor = "mse"
    mode: Literal["min", "max"] = "min"

    def __init__(self, train: Windows, val: Windows, batch_size: int) -> None:
        self.train, self.val, self.batch_size = train, val, batch_size

    def batches_per_epoch(self) -> int:
        return math.ceil(len(self.train) / self.batch_size)

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[dict[str, Tensor]]:
        order = torch.randperm(len(self.train), generator=generator)
        for first in range(0, len(order), self.batch_size):
            rows = order[first : first + self.batch_size]
            yield {
                "history": self.train.history[rows],  # (B, L, n)
                "covariates": self.train.covariates[rows],  # (B, L + H, C)
                "future": self.train.future[rows],  # (B, H, n)
            }

    def training_step(self, model: nn.Module, batch: dict[str, Tensor], carry: Any) -> StepResult:
        forecast = model(batch["history"], batch["covariates"], future=batch["future"])
        loss = model.loss(forecast, batch["future"])
        return StepResult(loss=loss, items=batch["future"].shape[0])

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        if len(self.val) == 0:
            return {}
        device = next(model.parameters()).device
        squared, nll, count = 0.0, 0.0, 0
        for first in range(0, len(self.val), 1024):
            rows = slice(first, first + 1024)
            future = self.val.future[rows].to(device)
            forecast = model(
                self.val.history[rows].to(device), self.val.covariates[rows].to(device)
            )
            squared += float(((forecast.mean.float() - future) ** 2).sum())
            nll += float(model.loss(forecast, future)) * future.numel()
            count += future.numel()
        return {"mse": squared / count, "loss": nll / count}


class ForecastTask(series_common.SeriesTask[ForecastOptions]):
    """The forecast task: a series table, a scaler fitted on its training spans, a Forecaster."""

    name = TASK
    options_class = ForecastOptions
    summary = "Train a forecaster on a table of time series; backtests it on the test span."

    def training_columns(self, options: ForecastOptions) -> SeriesColumns:
        return options.columns(options.series_column)

    def prepare(self, options: ForecastOptions, resumed: Run | None) -> Prepared:
        table = self.training_table(options, resumed)
        lookback, horizon = options.lookback, options.horizon
        require_length(
            table, lookback + horizon, f"--lookback {lookback} + --horizon {horizon}", options.data
        )
        spans = Spans.of(table, options.split)
        linear, transform_errors = linear_choice(options, table, spans, resumed)
        transform, penalties = linear.transform, linear.penalties
        model_table = transformed_table(table, transform)
        scaler = series_common.training_scaler(model_table, spans, resumed)
        train_windows = make_windows(model_table, scaler, lookback, horizon, TRAIN, spans)
        if len(train_windows) == 0:
            train_fraction = parse_split(options.split)[0]
            raise UserError(
                f"the training span of {options.data} (--split {options.split}: the first "
                f"{train_fraction:g} of each series) is too short for one window of "
                f"{lookback + horizon} rows; give a longer series or smaller --lookback/--horizon."
            )
        val_windows = make_windows(model_table, scaler, lookback, horizon, VALIDATION, spans)
        settings = settings_of(options, transform)
        backtest_windows(model_table, scaler, spans, settings)  # refuse an empty test span now

        def finish(model: nn.Module, results: dict[str, Any]) -> dict[str, Any]:
            model = model.cpu()
            linear_with_validation = model.linear and len(val_windows) > 0
            if linear_with_validation:
                results["net_weight"] = choose_net_weight(model, val_windows)
            folds = linear_fold_forecasts(model, table, spans, transform, penalties)
            intervals = calibrate_intervals(model, table, scaler, spans, settings, folds)
            if linear_with_validation:
                # every choice that needs the validation windows out of sample is made
                if options.refit_linear:
                    refit_linear_part(model, model_table, scaler, spans, penalties)
                results["linear_refit"] = options.refit_linear
                save_weights(model, Path(options.out) / WEIGHTS_FILE)
            test = backtest(model, table, scaler, spans, settings, intervals)
            results["test"] = test
            print(
                f"test MASE {test['mase']:.3f} (naive {test['naive_mase']:.3f}, seasonal naive "
                f"{test['seasonal_naive_mase']:.3f})",
                file=sys.stderr,
            )
            return {"intervals": intervals.to_dict()} if intervals is not None else {}

        model = build_model(
            options,
            len(table.columns.targets),
            len(table.covariate_names),
            len(train_windows),
            base_season=linear.season,
        )
        if model.linear:
            fit_linear_part(model, train_windows, penalties)
        data = data_section(options, table, spans, len(train_windows), len(val_windows))
        data["transform"] = transform
        data["base_season"] = linear.season
        data["linear_penalty"] = penalties[0]
        data["linear_penalties"] = list(penalties)
        if transform_errors:
            data["transform_errors"] = transform_errors
        return Prepared(
            model=model,
            objective=WindowObjective(train_windows, val_windows, options.batch_size),
            sections={"data": data},
            artifacts={series_common.SCALER_FILE: scaler.to_dict()},
            finish=finish,
        )

    def model_from_config(self, model_config: dict[str, Any]) -> Forecaster:
        return Forecaster(**model_config)

    def evaluate(self, run: Run, data: Path, *, encoding: str = "utf-8") -> dict[str, Any]:
        """Backtest metrics of the run over the test span of ``data`` (split as in training)."""
        model, scaler = self.load(run)
        options = run.options(ForecastOptions)
        table = load_series(
            data,
            series_common.stored_columns(run),
            fill=options.fill,
            encoding=encoding,
            calendar=series_common.stored_calendar(run),
        )
        spans = Spans.of(table, options.split)
        settings = settings_of(options, stored_transform(run))
        return backtest(model, table, scaler, spans, settings, stored_intervals(run))

    def load(self, run: Run) -> tuple[Forecaster, SeriesScaler]:
        """The trained model (eval mode, CPU) and scaler of a forecast run; checked."""
        series_common.stored_data(run)
        return self.load_model(run), series_common.load_scaler(run)

    def describe_data(self, data: dict[str, Any]) -> dict[str, Any]:
        keys = (
            "file",
            "targets",
            "time_column",
            "frequency",
            "rows",
            "train_windows",
            "transform",
            "base_season",
        )
        return {key: data.get(key) for key in keys}

    def describe_more(self, run: Run) -> dict[str, Any]:
        test = run.config.get("results", {}).get("test", {})
        return {"test": {k: v for k, v in test.items() if not isinstance(v, (list, dict))}}


TASK_SPEC = ForecastTask()


def default_ensemble(train_windows: int) -> int:
    """The ensemble of a run without ``--ensemble``: 5 nets under 500 training windows (cheap,
    and a short series' forecast varies much from seed to seed), else 1."""
    return 5 if train_windows < 500 else 1


def default_hidden(train_windows: int) -> int:
    """The hidden size of a run without ``--hidden``: 16 under 200 training windows, 32 under
    2000, else 64 (a short series overfits a large net)."""
    if train_windows < 200:
        return 16
    return 32 if train_windows < 2000 else 64


def build_model(
    options: ForecastOptions,
    num_targets: int,
    num_covariates: int,
    train_windows: int,
    base_season: int | None = None,
) -> Forecaster:
    """The ``Forecaster`` that ``options`` describe, for the table's targets and covariates;
    ``base_season``: the season of its residual's base (default: ``--season``'s)."""
    return Forecaster(
        num_targets,
        num_covariates,
        horizon=options.horizon,
        hidden_size=options.hidden or default_hidden(train_windows),
        num_layers=options.layers,
        cell=options.cell,
        dropout=options.dropout,
        decoder=options.decoder,
        likelihood=options.likelihood,
        relative=options.relative,
        normalise=options.normalise,
        season=options.residual_season if base_season is None else base_season,
        members=options.ensemble or default_ensemble(train_windows),
        lookback=options.lookback,
        linear=options.linear and options.decoder == "direct",
    )


def fit_linear_part(model: Forecaster, train: Windows, penalties: tuple[float, ...]) -> None:
    """Fit the model's linear autoregression on the training windows in closed form: the mean of
    the ridge fits with each of ``penalties`` per regression row (``rnnkit.models.linear_ar``)."""
    x, y, _, _ = linear_ar.design(
        train.history, train.future, model.season, model.relative, model.normalise
    )
    weight, bias = linear_ar.combined_ridge(x, y, penalties)
    with torch.no_grad():
        model.set_linear(weight.float(), bias.float())


def refit_linear_part(
    model: Forecaster,
    model_table: SeriesTable,
    scaler: SeriesScaler,
    spans: Spans,
    penalties: tuple[float, ...],
) -> None:
    """Fit the model's linear part again, with the same ``penalties``, on every window whose
    targets precede the test span: the training windows, those straddling the end of the
    training span, and the validation windows. The last years of a short series are the ones
    its next years resemble most; the validation span's work (the transform, the base, the
    penalties, the net's weight, the intervals) is done by then, so nothing is chosen on
    windows the fit has seen."""
    L, H = model.lookback, model.horizon
    fit_linear_part(
        model, make_windows(model_table, scaler, L, H, TRAIN, spans.through_validation()), penalties
    )


def choose_net_weight(model: Forecaster, val: Windows) -> float:
    """Shrink the trained network's part of ``model`` towards its linear forecast: the weight of
    ``NET_WEIGHTS`` whose validation forecasts have the smallest MSE (scaled units); set, and
    returned."""
    errors = {}
    for weight in NET_WEIGHTS:
        model.set_net_weight(weight)
        errors[weight] = float(((predict_windows(model, val).mean - val.future) ** 2).mean())
    best = min(errors, key=errors.get)
    model.set_net_weight(best)
    return best


def linear_choice(
    options: ForecastOptions, table: SeriesTable, spans: Spans, resumed: Run | None
) -> tuple[LinearChoice, dict[str, float]]:
    """The run's transform of its targets, the base of its residual and the ridge penalties
    whose fits its linear part averages (chosen on the validation windows:
    ``rnnkit.tasks.series_transforms``) and, for ``--transform auto``, each candidate
    transform's validation error. A resumed run keeps what it started with (runs written
    before the base was chosen used ``--season``'s, before the combination one penalty)."""
    if resumed is not None:
        data = resumed.section("data")
        penalties = data.get("linear_penalties") or [data.get("linear_penalty", 0.0)]
        season = int(data.get("base_season", options.residual_season))
        penalties = tuple(float(p) for p in penalties)
        return LinearChoice(stored_transform(resumed), season, penalties, math.nan), {}
    windows = (
        options.lookback,
        options.horizon,
        options.residual_season,
        options.relative,
        options.normalise,
    )
    if options.transform != "auto":
        check_transform(options.transform, table, options.data)
        return choose_linear(table, spans, options.transform, *windows, options.base), {}
    choice, errors = choose_transform(table, spans, *windows, options.base)
    shown = ", ".join(f"{k} {v:.3f}" for k, v in errors.items())
    base = {0: "", 1: ", naive base"}.get(choice.season, ", seasonal-naive base")
    print(
        f"--transform auto: {choice.transform}{base} (validation error of the linear part: "
        f"{shown})",
        file=sys.stderr,
    )
    return choice, errors


def stored_transform(run: Run) -> str:
    """The transform a run's model reads its targets through (``none`` for older runs)."""
    return str(run.section("data").get("transform", "none"))


def stored_intervals(run: Run) -> Intervals | None:
    """The run's calibrated intervals (None for a Gaussian run or an older one)."""
    section = run.config.get("intervals")
    if not isinstance(section, dict):
        return None
    try:
        return Intervals.from_dict(section)
    except (KeyError, TypeError, ValueError):
        raise UserError(
            f"{run.config_path} has a damaged 'intervals' section; train the run again."
        ) from None


def train(options: ForecastOptions) -> Path:
    """Train a forecaster as ``options`` say, backtest it; return the run directory.

    Every check of the user's input runs before anything is written, so a refused run leaves
    the run directory as it was.
    """
    return lifecycle.train(TASK_SPEC, options)


def data_section(
    options: ForecastOptions, table: SeriesTable, spans: Spans, train: int, val: int
) -> dict[str, Any]:
    """What a run must remember about its data to read new files the same way."""
    return {
        **series_common.columns_section(options, table),
        "series_column": table.columns.series,
        "frequency": table.frequency,
        "series": [s.name for s in table.series],
        "rows": sum(len(s) for s in table.series),
        "spans": {name: list(ends) for name, ends in spans.ends.items()},
        "train_windows": train,
        "val_windows": val,
    }


# ------------------------------------------------------------------------------------ backtest


@dataclass
class BacktestSettings:
    """How a backtest forecasts and scores: the run's windows, origin stride, season, levels."""

    lookback: int
    horizon: int
    stride: int
    season: int | None
    quantiles: list[float]
    split: str
    transform: str = "none"


def settings_of(options: ForecastOptions, transform: str = "none") -> BacktestSettings:
    """The backtest settings of a run's options and target transform."""
    return BacktestSettings(
        lookback=options.lookback,
        horizon=options.horizon,
        stride=options.backtest_stride or options.horizon,
        season=options.season,
        quantiles=parse_quantiles(options.quantiles),
        split=options.split,
        transform=transform,
    )


def predict_windows(model: Forecaster, windows: Windows) -> Forecast:
    """The model's forecasts ``(N, H, n)`` of every window, in batches (scaled units, CPU)."""
    device = next(model.parameters()).device
    means, scales = [], []
    with torch.no_grad():
        for first in range(0, len(windows), _BACKTEST_BATCH):
            rows = slice(first, first + _BACKTEST_BATCH)
            forecast = model(windows.history[rows].to(device), windows.covariates[rows].to(device))
            means.append(forecast.mean.float().cpu())
            if forecast.scale is not None:
                scales.append(forecast.scale.float().cpu())
    return Forecast(torch.cat(means), torch.cat(scales) if scales else None)


def backtest_windows(
    table: SeriesTable, scaler: SeriesScaler, spans: Spans, settings: BacktestSettings
) -> tuple[Windows, np.ndarray]:
    """The test span's windows and which of them are scored (``(N,)`` bool: those with a full
    season of history for the seasonal-naive forecast); ``UserError`` when none is."""
    L, H, m = settings.lookback, settings.horizon, settings.season or 1
    windows = make_windows(table, scaler, L, H, TEST, spans, settings.stride)
    keep = np.array([o >= m for o in windows.origins], dtype=bool)
    if len(windows) == 0 or not keep.any():
        raise UserError(
            f"the test span (--split {settings.split}) holds no forecast of {H} steps after "
            f"{max(L, m)} rows of history; give a longer series or a larger test share."
        )
    return windows, keep


@dataclass
class FileUnitForecasts:
    """A model's forecasts of windows in the file's units, and what scoring them needs.

    ``forecast``, ``actual`` ``(N, H, n)``; ``scale (N, n)``: the movement of the
    ``SCALE_LOOKBACKS`` lookbacks before each forecast (``window_scale``);
    ``series``/``origins``: where each window came from;
    ``quantiles (N, H, n, Q)`` of a Gaussian head (file units), else None.
    """

    forecast: np.ndarray
    actual: np.ndarray
    scale: np.ndarray
    series: list[str]
    origins: np.ndarray
    quantiles: np.ndarray | None = None


def file_unit_forecasts(
    model: Forecaster,
    table: SeriesTable,
    scaler: SeriesScaler,
    windows: Windows,
    settings: BacktestSettings,
    log_scale: bool = False,
) -> FileUnitForecasts:
    """Forecast ``windows`` (cut from the transformed table) and bring them back to the units of
    ``table``, the file's series: the scaler's inverse, then the transform's."""
    L, H = settings.lookback, settings.horizon
    prediction = predict_windows(model, windows)
    levels = settings.quantiles
    quantiles = prediction.quantiles(levels).numpy() if prediction.scale is not None else None
    by_name = {s.name: s for s in table.series}
    forecast, actual, scale, q_units = [], [], [], []
    for row, (name, origin) in enumerate(zip(windows.series, windows.origins, strict=True)):
        values = by_name[name].values
        last = values[origin - 1]
        forecast.append(
            to_file_units(settings.transform, scaler, name, prediction.mean[row].numpy(), last)
        )
        actual.append(values[origin : origin + H])
        scale.append(recent_movement(values, origin, L, log_scale))
        if quantiles is not None:
            moved = np.moveaxis(quantiles[row], -1, 0)  # (Q, H, n)
            units = to_file_units(settings.transform, scaler, name, moved, last[None])
            q_units.append(np.moveaxis(units, 0, -1))
    return FileUnitForecasts(
        forecast=np.stack(forecast),
        actual=np.stack(actual),
        scale=np.stack(scale),
        series=list(windows.series),
        origins=windows.origins,
        quantiles=np.stack(q_units) if q_units else None,
    )


def linear_fold_forecasts(
    model: Forecaster,
    table: SeriesTable,
    spans: Spans,
    transform: str,
    penalties: tuple[float, ...],
) -> FoldForecasts | None:
    """The out-of-sample forecasts of the model's linear part on the rolling folds before the
    validation span (``series_transforms.fold_forecasts``); None for a model without a linear
    part (they would not stand for its errors)."""
    if not model.linear:
        return None
    windows = (model.lookback, model.horizon, model.season, model.relative, model.normalise)
    return fold_forecasts(table, spans, transform, penalties, *windows)


def calibrate_intervals(
    model: Forecaster,
    table: SeriesTable,
    scaler: SeriesScaler,
    spans: Spans,
    settings: BacktestSettings,
    folds: FoldForecasts | None = None,
) -> Intervals | None:
    """Intervals of a point forecaster from its residuals on the validation windows (on the
    training windows when the validation span holds none), pooled with the residuals of
    ``folds`` (earlier windows forecast out of sample); None for a Gaussian head."""
    if model.likelihood == "gaussian" or len(settings.quantiles) < 2:
        return None
    model_table = transformed_table(table, settings.transform)
    L, H = settings.lookback, settings.horizon
    windows = make_windows(model_table, scaler, L, H, VALIDATION, spans)
    if len(windows) == 0:
        windows = make_windows(model_table, scaler, L, H, TRAIN, spans)
    log = settings.transform == "log"
    scored = file_unit_forecasts(model, table, scaler, windows, settings, log)
    actual, forecast, scale = scored.actual, scored.forecast, scored.scale
    if folds is not None and len(folds.origins):
        by_name = {s.name: s for s in table.series}
        fold_scale = np.stack(
            [
                recent_movement(by_name[name].values, origin, L, log)
                for name, origin in zip(folds.series, folds.origins, strict=True)
            ]
        )
        actual = np.concatenate([actual, folds.actual])
        forecast = np.concatenate([forecast, folds.forecast])
        scale = np.concatenate([scale, fold_scale])
    return Intervals.fit(actual, forecast, scale, settings.quantiles, log)


def backtest(
    model: Forecaster,
    table: SeriesTable,
    scaler: SeriesScaler,
    spans: Spans,
    settings: BacktestSettings,
    intervals: Intervals | None = None,
) -> dict[str, Any]:
    """Rolling-origin backtest over each series' test span: metrics of the model and baselines.

    ``table`` holds the file's series; the model reads them through ``settings.transform`` and
    ``scaler``. Point metrics pool every forecast value (all series, targets, origins, steps) in
    the file's units; ``scaled_mse``/``scaled_mae`` do the same in units standardised with the
    training spans' statistics (the ETT benchmark's figure; ``naive_scaled_mse`` is the naive
    forecast's); MASE averages each (series, target)'s MASE. ``coverage`` is the share of actual
    values between the lowest and highest quantile (``intervals``, or a Gaussian head's);
    ``coverage_nominal`` is their gap.
    """
    H, m = settings.horizon, settings.season or 1
    n = len(table.columns.targets)
    model_table = transformed_table(table, settings.transform)
    windows, keep = backtest_windows(model_table, scaler, spans, settings)
    log_scale = intervals is not None and intervals.log
    scored = file_unit_forecasts(model, table, scaler, windows, settings, log_scale)
    raw_scaler = fit_scaler(table, spans) if settings.transform != "none" else scaler
    by_name = {s.name: s for s in table.series}
    naive, seasonal, scaled_actual, scaled_predicted, scaled_naive = [], [], [], [], []
    per_series: dict[str, list[int]] = {}
    kept = np.flatnonzero(keep)
    targets = slice(0, n)
    for index, row in enumerate(kept):
        name, origin = scored.series[row], scored.origins[row]
        history = by_name[name].values[:origin]
        naive.append(fm.naive_forecast(history, H))
        seasonal.append(fm.seasonal_naive_forecast(history, H, m))
        scaled_actual.append(raw_scaler.transform(name, scored.actual[row], targets))
        scaled_predicted.append(raw_scaler.transform(name, scored.forecast[row], targets))
        scaled_naive.append(raw_scaler.transform(name, naive[-1], targets))
        per_series.setdefault(name, []).append(index)
    actual_a, predicted = scored.actual[kept], scored.forecast[kept]
    results: dict[str, Any] = {"forecasts": len(kept), "horizon": H, "season": m}
    for prefix, values in (("", predicted), ("naive_", naive), ("seasonal_naive_", seasonal)):
        values_a = np.asarray(values)
        for key, value in fm.point_metrics(actual_a, values_a).items():
            results[prefix + key] = value
        results[prefix + "mase"] = _mean_mase(actual_a, values_a, per_series, table, spans, m)
    results["scaled_mse"] = fm.mse(np.stack(scaled_actual), np.stack(scaled_predicted))
    results["scaled_mae"] = fm.mae(np.stack(scaled_actual), np.stack(scaled_predicted))
    results["naive_scaled_mse"] = fm.mse(np.stack(scaled_actual), np.stack(scaled_naive))
    quantiles = scored.quantiles[kept] if scored.quantiles is not None else None
    levels = settings.quantiles
    if intervals is not None:
        quantiles, levels = intervals.quantiles(predicted, scored.scale[kept]), intervals.levels
    if quantiles is not None and len(levels) >= 2:
        results["coverage"] = fm.coverage(actual_a, quantiles[..., 0], quantiles[..., -1])
        results["coverage_nominal"] = levels[-1] - levels[0]
    results["beats_naive"] = bool(results["mase"] < results["naive_mase"])
    results["beats_seasonal_naive"] = bool(results["mase"] < results["seasonal_naive_mase"])
    return results


def _mean_mase(
    actual: np.ndarray,
    predicted: np.ndarray,
    per_series: dict[str, list[int]],
    table: SeriesTable,
    spans: Spans,
    season: int,
) -> float:
    """Mean over (series, target) of MAE over the in-sample seasonal-naive MAE of training."""
    values = []
    for series in table.series:
        rows = per_series.get(series.name)
        if not rows:
            continue
        train_end = spans.ends[series.name][0]
        for j in range(series.values.shape[1]):
            training = series.values[:train_end, j]
            if len(training) <= season:
                continue
            values.append(fm.mase(actual[rows, :, j], predicted[rows, :, j], training, season))
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


# ------------------------------------------------------------------------------------ using a run


def load_run(run_dir: str | Path) -> tuple[Forecaster, SeriesScaler, dict[str, Any]]:
    """The trained model (eval mode, CPU), scaler and config of a forecast run; checked."""
    run = TASK_SPEC.open(run_dir)
    return (*TASK_SPEC.load(run), run.config)


def evaluate(run_dir: str | Path, data: str | Path, *, encoding: str = "utf-8") -> dict[str, Any]:
    """Backtest metrics of a run over the test span of ``data`` (split as in training)."""
    return TASK_SPEC.evaluate(TASK_SPEC.open(run_dir), Path(data), encoding=encoding)


def forecast(
    run_dir: str | Path,
    data: str | Path,
    *,
    steps: int | None = None,
    output: str | Path | None = None,
    plot: str | Path | None = None,
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """Forecast the ``steps`` rows after the end of each series of the history file ``data``.

    Returns (and writes to ``output`` as CSV) one row per forecast step: the time column continued
    at the series' frequency (when the run has one), the series column (for many series), one
    column per target with the point forecast, and ``<target>_q<level>`` columns for a Gaussian
    run's quantiles. Steps beyond the horizon are forecast recursively, feeding forecasts back as
    history (their intervals then leave out the uncertainty of the fed-back values).
    With user covariates the history must end with rows whose targets are empty and whose
    covariates are given, at least ``steps`` of them.
    """
    run = TASK_SPEC.open(run_dir)
    model, scaler = TASK_SPEC.load(run)
    options = run.options(ForecastOptions)
    data = Path(data)
    steps = options.horizon if steps is None else steps
    if steps < 1:
        raise UserError(f"--steps must be >= 1, got {steps}.")
    frame = read_frame(data, encoding)
    series_common.check_same_columns(frame, series_common.stored_data(run)["file_columns"], data)
    columns = series_common.stored_columns(run)
    table = load_series(
        data,
        columns,
        fill=options.fill,
        future_rows=bool(columns.covariates),
        frame=frame,
        calendar=series_common.stored_calendar(run),
    )
    lookback = options.lookback
    require_length(table, lookback, f"the run's --lookback {lookback}", data)
    intervals = stored_intervals(run)
    levels = parse_quantiles(options.quantiles) if model.likelihood == "gaussian" else []
    if intervals is not None:
        levels = intervals.levels
    transform = stored_transform(run)
    frequency = table.frequency or series_common.stored_data(run).get("frequency")
    pieces, plotted = [], []
    for series in table.series:
        mean, quantiles = forecast_series(
            model, scaler, series, table, options, steps, levels, transform, intervals
        )
        piece = _output_frame(series, columns, mean, quantiles, levels, frequency, steps)
        pieces.append(piece)
        plotted.append((series, mean, quantiles))
    result = pd.concat(pieces, ignore_index=True)
    if output is not None:
        result.to_csv(output, index=False)
    if plot is not None:
        from rnnkit.viz.forecast import plot_forecasts

        plot_forecasts(plotted, columns.targets, levels, frequency, plot, lookback=lookback)
    return result


def forecast_series(
    model: Forecaster,
    scaler: SeriesScaler,
    series: Series,
    table: SeriesTable,
    options: ForecastOptions,
    steps: int,
    levels: list[float],
    transform: str = "none",
    intervals: Intervals | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Point forecast ``(steps, n)`` and quantiles ``(steps, n, Q)`` of one series, file units.

    The model reads the history through the run's ``transform``; the quantiles are the
    calibrated ``intervals`` of a point forecaster, or a Gaussian head's at ``levels``.
    """
    L, H, n = options.lookback, options.horizon, len(table.columns.targets)
    future_cov = _future_covariates(series, table, options, steps)
    model_values = transform_forward(transform, series.values)
    joined_values = np.concatenate([model_values, series.covariates], axis=1)
    history = scaler.transform(series.name, joined_values[-L:]).astype(np.float32)
    targets, covariates = history[:, :n], history[:, n:]
    future_cov = scaler.transform(series.name, future_cov, slice(n, None)).astype(np.float32)
    means, quantiles = [], []
    done = 0
    with torch.no_grad():
        while done < steps:
            # pad the covariates past the requested steps by repeating the last known ones
            chunk_cov = future_cov[done : done + H]
            if len(chunk_cov) < H:
                padding = np.repeat(chunk_cov[-1:], H - len(chunk_cov), axis=0)
                chunk_cov = np.concatenate([chunk_cov, padding])
            inputs_cov = np.concatenate([covariates[-L:], chunk_cov])[None]
            forecast = model(torch.from_numpy(targets[-L:][None]), torch.from_numpy(inputs_cov))
            take = min(H, steps - done)
            mean = forecast.mean[0, :take].numpy()
            means.append(mean)
            if levels and intervals is None:
                quantiles.append(forecast.quantiles(levels)[0, :take].numpy())
            targets = np.concatenate([targets, mean])
            covariates = np.concatenate([covariates, chunk_cov[:take]])
            done += take
    last = series.values[-1]
    mean_units = to_file_units(transform, scaler, series.name, np.concatenate(means), last)
    if not levels:
        return mean_units, None
    if intervals is not None:
        scale = movement(series.values[-SCALE_LOOKBACKS * L :][None], intervals.log)
        return mean_units, intervals.quantiles(mean_units[None], scale)[0]
    q = np.concatenate(quantiles)  # (steps, n, Q)
    q_units = to_file_units(transform, scaler, series.name, np.moveaxis(q, -1, 0), last[None])
    return mean_units, np.moveaxis(q_units, 0, -1)


def _future_covariates(
    series: Series, table: SeriesTable, options: ForecastOptions, steps: int
) -> np.ndarray:
    """Covariates ``(steps, C)`` of the forecast rows: the user's given ones, then calendar."""
    columns = table.columns
    parts = []
    if columns.covariates:
        given = series.future_covariates
        available = 0 if given is None else len(given)
        if available < steps:
            raise UserError(
                f"the run uses covariates {', '.join(columns.covariates)}, known in advance: end "
                f"the history with {steps} rows whose targets are empty and covariates are given "
                f"(it has {available}), or ask for fewer --steps."
            )
        parts.append(given[:steps, : len(columns.covariates)])
    if columns.calendar:
        if series.times is None or table.frequency is None:
            raise UserError("the history needs at least three timestamps to continue its calendar.")
        names = table.covariate_names[len(columns.covariates) :]
        times = future_times(series.times, table.frequency, steps)
        parts.append(calendar_values(times, names))
    if not parts:
        return np.zeros((steps, 0))
    return np.concatenate(parts, axis=1)


def _output_frame(
    series: Series,
    columns: SeriesColumns,
    mean: np.ndarray,
    quantiles: np.ndarray | None,
    levels: list[float],
    frequency: str | None,
    steps: int,
) -> pd.DataFrame:
    out: dict[str, Any] = {}
    if columns.time is not None and series.times is not None and frequency is not None:
        out[columns.time] = future_times(series.times, frequency, steps)
    if columns.series is not None and series.name != SINGLE_SERIES:
        out[columns.series] = [series.name] * steps
    for j, target in enumerate(columns.targets):
        out[target] = mean[:, j]
        for k, level in enumerate(levels):
            out[quantile_column(target, level)] = quantiles[:, j, k]
    return pd.DataFrame(out)


def describe(run_dir: str | Path) -> dict[str, Any]:
    """Task, model, data, training, validation and test metrics of a forecast run."""
    return TASK_SPEC.describe(TASK_SPEC.open(run_dir))
