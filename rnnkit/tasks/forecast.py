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
on the training span of each series and saved as ``scaler.json``; training windows have all their
targets in the training span, validation windows in the validation span (their inputs may reach
back, as context). ``evaluate`` runs a rolling-origin backtest over the test span: forecasts from
origins ``backtest_stride`` rows apart, each from the ``lookback`` rows before it, scored in the
file's units against the same forecasts of the naive and seasonal-naive methods.

A run directory holds ``config.json`` (sections ``options``, ``model``, ``data``, ``results``),
``scaler.json``, ``model.safetensors``, ``metrics.csv``, ``loss.png`` and ``checkpoint/``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from rnnkit.data.series import (
    FILL_METHODS,
    SINGLE_SERIES,
    Series,
    SeriesColumns,
    SeriesScaler,
    SeriesTable,
    calendar_values,
    future_times,
    gather_windows,
    load_series,
    parse_names,
    parse_split,
    read_frame,
    require_length,
    split_points,
    window_starts,
)
from rnnkit.errors import UserError
from rnnkit.metrics import forecast as fm
from rnnkit.models.forecaster import DECODERS, LIKELIHOODS, Forecast, Forecaster
from rnnkit.tasks.describing import parameter_count
from rnnkit.tasks.options import TaskOptions
from rnnkit.tasks.resuming import refuse_existing_run
from rnnkit.training import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    StepResult,
    Trainer,
    load_weights,
    read_run_config,
    seed_everything,
    write_config,
)

TASK = "forecast"
SCALER_FILE = "scaler.json"
#: origins scored per model call in a backtest
_BACKTEST_BATCH = 512


@dataclass
class SeriesOptions(TaskOptions):
    """What forecasting and anomaly detection share: the data's columns and the model."""

    missing_data_message: ClassVar[str] = "no data file was given; pass --data FILE."

    target: str = ""  # one or several columns, comma separated
    time_column: str | None = None
    covariates: str | None = None  # known-in-advance columns, comma separated
    calendar: bool = False  # add calendar features of the time column as covariates
    fill: str | None = None  # ffill | interpolate; None refuses missing values
    # model
    hidden: int = 64
    layers: int = 1
    dropout: float = 0.0
    batch_size: int = 64
    lr: float = 3e-3

    def validate(self) -> SeriesOptions:
        super().validate()
        if not parse_names(self.target):
            raise UserError("no target column was given; pass --target COL (or COL1,COL2).")
        if self.fill is not None and self.fill not in FILL_METHODS:
            raise UserError(f"--fill {self.fill!r} is not known; use {' or '.join(FILL_METHODS)}.")
        if self.calendar and self.time_column is None:
            raise UserError("--calendar derives features from the time column; pass --time-column.")
        self.require_whole_numbers("hidden", "layers", "batch_size")
        self.require_rates("dropout")
        return self

    def columns(self, series_column: str | None = None, label: str | None = None) -> SeriesColumns:
        return SeriesColumns(
            targets=parse_names(self.target),
            time=self.time_column,
            covariates=parse_names(self.covariates),
            series=series_column,
            calendar=self.calendar,
            label=label,
        )


@dataclass
class ForecastOptions(SeriesOptions):
    """Everything ``rnnkit train forecast`` takes."""

    series_column: str | None = None  # many series in one long table, one global model
    lookback: int = 48
    horizon: int = 12
    decoder: Literal["direct", "autoregressive"] = "direct"
    likelihood: Literal["none", "gaussian"] = "none"
    relative: bool = True  # forecast the change from the last history value
    quantiles: str = "0.1,0.5,0.9"
    season: int | None = None  # seasonal-naive baseline and MASE's scale; None: 1
    split: str = "0.7,0.1,0.2"  # train,validation,test fractions or row counts
    backtest_stride: int | None = None  # rows between backtest origins; None: the horizon

    def validate(self) -> ForecastOptions:
        super().validate()
        self.require_whole_numbers("lookback", "horizon")
        self.require_whole_numbers("season", "backtest_stride", optional=True)
        if self.decoder not in DECODERS:
            raise UserError(
                f"--decoder {self.decoder!r} is not known; use direct or autoregressive."
            )
        if self.likelihood not in LIKELIHOODS:
            raise UserError(f"--likelihood {self.likelihood!r} is not known; use none or gaussian.")
        parse_quantiles(self.quantiles)
        parse_split(self.split)
        return self


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


# ------------------------------------------------------------------------------------ data


@dataclass
class Spans:
    """Train/validation/test span ends of each series, by name."""

    ends: dict[str, tuple[int, int, int]]

    @classmethod
    def of(cls, table: SeriesTable, split: str) -> Spans:
        parts = parse_split(split)
        return cls({s.name: split_points(len(s), parts) for s in table.series})


def fit_scaler(table: SeriesTable, spans: Spans) -> SeriesScaler:
    """A scaler of every target and covariate column, per series, on its training rows only."""
    scaler = SeriesScaler(columns=[*table.columns.targets, *table.covariate_names])
    for series in table.series:
        train_end = spans.ends[series.name][0]
        scaler.fit(series.name, joined(series)[:train_end])
    return scaler


def joined(series: Series) -> np.ndarray:
    """Targets then covariates of a series: ``(T, n + C)``."""
    return np.concatenate([series.values, series.covariates], axis=1)


@dataclass
class Windows:
    """Model inputs cut from the series: history ``(N, L, n)``, covariates ``(N, L + H, C)``,
    future ``(N, H, n)`` (scaled), and where each window came from."""

    history: Tensor
    covariates: Tensor
    future: Tensor
    series: list[str]
    origins: np.ndarray  # first forecast row of each window

    def __len__(self) -> int:
        return len(self.history)


def make_windows(
    table: SeriesTable,
    scaler: SeriesScaler,
    lookback: int,
    horizon: int,
    span: int,
    spans: Spans,
    stride: int = 1,
) -> Windows:
    """All windows whose targets lie in span ``span`` (0 train, 1 validation, 2 test)."""
    n = len(table.columns.targets)
    histories, covariates, futures, names, origins = [], [], [], [], []
    for series in table.series:
        ends = spans.ends[series.name]
        start = 0 if span == 0 else ends[span - 1]
        starts = window_starts(start, ends[span], lookback, horizon, stride)
        scaled = scaler.transform(series.name, joined(series)).astype(np.float32)
        windows = gather_windows(scaled, starts, lookback + horizon)
        histories.append(windows[:, :lookback, :n])
        futures.append(windows[:, lookback:, :n])
        covariates.append(windows[:, :, n:])
        names += [series.name] * len(starts)
        origins.append(starts + lookback)
    return Windows(
        history=torch.from_numpy(np.concatenate(histories)),
        covariates=torch.from_numpy(np.concatenate(covariates)),
        future=torch.from_numpy(np.concatenate(futures)),
        series=names,
        origins=np.concatenate(origins),
    )


def read_training_table(options: ForecastOptions | SeriesOptions, columns: SeriesColumns):
    """The training file's series; gaps in its timestamps are reported on stderr."""
    table = load_series(options.data, columns, fill=options.fill, encoding=options.encoding)
    for gap in table.gaps:
        print(f"warning: {gap}", file=sys.stderr)
    return table


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
                "history": self.train.history[rows],
                "covariates": self.train.covariates[rows],
                "future": self.train.future[rows],
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


def build_model(options: ForecastOptions, num_targets: int, num_covariates: int) -> Forecaster:
    return Forecaster(
        num_targets,
        num_covariates,
        horizon=options.horizon,
        hidden_size=options.hidden,
        num_layers=options.layers,
        cell=options.cell,
        dropout=options.dropout,
        decoder=options.decoder,
        likelihood=options.likelihood,
        relative=options.relative,
    )


def train(options: ForecastOptions) -> Path:
    """Train a forecaster as ``options`` say; return the run directory."""
    options.validate()
    out = Path(options.out)
    refuse_existing_run(out, options.resume)
    columns = options.columns(options.series_column)
    table = read_training_table(options, columns)
    lookback, horizon = options.lookback, options.horizon
    require_length(
        table, lookback + horizon, f"--lookback {lookback} + --horizon {horizon}", options.data
    )
    spans = Spans.of(table, options.split)
    scaler = fit_scaler(table, spans)
    train_windows = make_windows(table, scaler, lookback, horizon, 0, spans)
    if len(train_windows) == 0:
        train_fraction = parse_split(options.split)[0]
        raise UserError(
            f"the training span of {options.data} (--split {options.split}: the first "
            f"{train_fraction:g} of each series) is too short for one window of "
            f"{lookback + horizon} rows; give a longer series or smaller --lookback/--horizon."
        )
    val_windows = make_windows(table, scaler, lookback, horizon, 1, spans)

    seed_everything(options.seed)
    model = build_model(options, len(columns.targets), len(table.covariate_names))
    sections = {
        "options": options,
        "model": model.config(),
        "data": data_section(options, table, spans, len(train_windows), len(val_windows)),
    }
    out.mkdir(parents=True, exist_ok=True)
    write_config(out, TASK, **sections)
    scaler.save(out / SCALER_FILE)
    objective = WindowObjective(train_windows, val_windows, options.batch_size)
    result = Trainer(model, objective, options.train_options(), out).fit()
    model.eval()
    results = {k: v for k, v in result.items() if not isinstance(v, Tensor)}
    results["test"] = backtest(model.cpu(), table, scaler, spans, settings_of(options))
    write_config(out, TASK, **sections, results=results)
    return out


def columns_section(options: SeriesOptions, table: SeriesTable) -> dict[str, Any]:
    """The file and columns a series run (forecast or detect) was trained on, for ``data``."""
    return {
        "file": str(options.data),
        "file_columns": table.file_columns,
        "targets": table.columns.targets,
        "time_column": table.columns.time,
        "covariates": table.columns.covariates,
        "covariate_names": table.covariate_names,
        "calendar": table.columns.calendar,
    }


def data_section(
    options: ForecastOptions, table: SeriesTable, spans: Spans, train: int, val: int
) -> dict[str, Any]:
    """What a run must remember about its data to read new files the same way."""
    return {
        **columns_section(options, table),
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
    lookback: int
    horizon: int
    stride: int
    season: int | None
    quantiles: list[float]
    split: str


def settings_of(options: ForecastOptions) -> BacktestSettings:
    return BacktestSettings(
        lookback=options.lookback,
        horizon=options.horizon,
        stride=options.backtest_stride or options.horizon,
        season=options.season,
        quantiles=parse_quantiles(options.quantiles),
        split=options.split,
    )


def predict_windows(model: Forecaster, windows: Windows) -> Forecast:
    """The model's forecasts of every window, in batches (scaled units, CPU)."""
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


def backtest(
    model: Forecaster,
    table: SeriesTable,
    scaler: SeriesScaler,
    spans: Spans,
    settings: BacktestSettings,
) -> dict[str, Any]:
    """Rolling-origin backtest over each series' test span: metrics of the model and baselines.

    Point metrics pool every forecast value (all series, targets, origins, steps) in the file's
    units; ``scaled_mse``/``scaled_mae`` do the same in scaled units (the ETT benchmark's figure;
    ``naive_scaled_mse`` is the naive forecast's);
    MASE averages each (series, target)'s MASE. ``coverage`` is the share of actual values between
    the lowest and highest quantile (Gaussian likelihood only; ``coverage_nominal`` is their gap).
    """
    L, H, m = settings.lookback, settings.horizon, settings.season or 1
    n = len(table.columns.targets)
    windows = make_windows(table, scaler, L, H, 2, spans, settings.stride)
    keep = np.array([o >= m for o in windows.origins], dtype=bool)
    if len(windows) == 0 or not keep.any():
        raise UserError(
            f"the test span (--split {settings.split}) holds no forecast of {H} steps after "
            f"{max(L, m)} rows of history; give a longer series or a larger test share."
        )
    forecast = predict_windows(model, windows)
    by_name = {s.name: s for s in table.series}
    actual, predicted, naive, seasonal, lower, upper = [], [], [], [], [], []
    scaled_actual, scaled_predicted = [], []
    per_series: dict[str, list[int]] = {}
    levels = settings.quantiles
    quantiles = forecast.quantiles(levels).numpy() if forecast.scale is not None else None
    for row, (name, origin) in enumerate(zip(windows.series, windows.origins, strict=True)):
        if not keep[row]:
            continue
        series = by_name[name]
        truth = series.values[origin : origin + H]
        target_columns = slice(0, n)
        actual.append(truth)
        predicted.append(scaler.inverse(name, forecast.mean[row].numpy(), target_columns))
        scaled_actual.append(windows.future[row].numpy())
        scaled_predicted.append(forecast.mean[row].numpy())
        naive.append(fm.naive_forecast(series.values[:origin], H))
        seasonal.append(fm.seasonal_naive_forecast(series.values[:origin], H, m))
        if quantiles is not None:
            lower.append(scaler.inverse(name, quantiles[row, :, :, 0], target_columns))
            upper.append(scaler.inverse(name, quantiles[row, :, :, -1], target_columns))
        per_series.setdefault(name, []).append(len(actual) - 1)
    actual_a = np.stack(actual)  # (N, H, n)
    results: dict[str, Any] = {"forecasts": len(actual), "horizon": H, "season": m}
    for prefix, values in (("", predicted), ("naive_", naive), ("seasonal_naive_", seasonal)):
        values_a = np.stack(values)
        for key, value in fm.point_metrics(actual_a, values_a).items():
            results[prefix + key] = value
        results[prefix + "mase"] = _mean_mase(actual_a, values_a, per_series, table, spans, m)
    results["scaled_mse"] = fm.mse(np.stack(scaled_actual), np.stack(scaled_predicted))
    results["scaled_mae"] = fm.mae(np.stack(scaled_actual), np.stack(scaled_predicted))
    scaled_naive = windows.history[:, -1:].expand_as(windows.future).numpy()[keep]
    results["naive_scaled_mse"] = fm.mse(np.stack(scaled_actual), scaled_naive)
    if quantiles is not None and len(levels) >= 2:
        results["coverage"] = fm.coverage(actual_a, np.stack(lower), np.stack(upper))
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


def load_run(run_dir: str | Path, task: str = TASK) -> tuple[Forecaster, SeriesScaler, dict]:
    """The trained model (eval mode, CPU), scaler and config of a run; checked."""
    run_dir = Path(run_dir)
    config = read_run_config(run_dir, expected_task=task)
    try:
        model = Forecaster(**config["model"])
        options = config["options"]
        config["data"]["targets"]  # noqa: B018  (checks that the section is there)
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(
            f"{run_dir / CONFIG_FILE} is missing or has an unusable section ({error}); train the "
            "run again."
        ) from None
    if not isinstance(options, dict):
        raise UserError(f"{run_dir / CONFIG_FILE} has no 'options' section; train the run again.")
    load_weights(model, run_dir / WEIGHTS_FILE)
    return model.eval(), SeriesScaler.load(run_dir / SCALER_FILE), config


def stored_calendar(config: dict[str, Any]) -> list[str] | None:
    """The calendar feature names a run was trained with (None without --calendar)."""
    data = config["data"]
    if not data["calendar"]:
        return None
    return list(data["covariate_names"][len(data["covariates"]) :])


def stored_columns(config: dict[str, Any], label: str | None = None) -> SeriesColumns:
    data = config["data"]
    return SeriesColumns(
        targets=list(data["targets"]),
        time=data["time_column"],
        covariates=list(data["covariates"]),
        series=data.get("series_column"),
        calendar=bool(data["calendar"]),
        label=label,
    )


def stored_options(config: dict[str, Any]) -> ForecastOptions:
    return ForecastOptions.from_dict(config["options"])  # type: ignore[return-value]


def evaluate(run_dir: str | Path, data: str | Path, *, encoding: str = "utf-8") -> dict[str, Any]:
    """Backtest metrics of a run over the test span of ``data`` (split as in training)."""
    model, scaler, config = load_run(run_dir)
    options = stored_options(config)
    table = load_series(
        data,
        stored_columns(config),
        fill=options.fill,
        encoding=encoding,
        calendar=stored_calendar(config),
    )
    spans = Spans.of(table, options.split)
    return backtest(model, table, scaler, spans, settings_of(options))


def check_same_columns(frame: pd.DataFrame, expected: list[str], path: Path) -> None:
    """``UserError`` unless the file has exactly the training file's columns."""
    missing = [c for c in expected if c not in frame.columns]
    extra = [c for c in frame.columns if c not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"lacks {', '.join(repr(c) for c in missing)}")
        if extra:
            parts.append(f"has {', '.join(repr(c) for c in extra)} in addition")
        raise UserError(
            f"{path} has other columns than the training data: it {' and '.join(parts)}; give a "
            f"history with the training columns {', '.join(repr(c) for c in expected)}."
        )


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
    model, scaler, config = load_run(run_dir)
    options = stored_options(config)
    data = Path(data)
    steps = options.horizon if steps is None else steps
    if steps < 1:
        raise UserError(f"--steps must be >= 1, got {steps}.")
    frame = read_frame(data, encoding)
    check_same_columns(frame, config["data"]["file_columns"], data)
    columns = stored_columns(config)
    table = load_series(
        data,
        columns,
        fill=options.fill,
        future_rows=bool(columns.covariates),
        frame=frame,
        calendar=stored_calendar(config),
    )
    lookback = options.lookback
    require_length(table, lookback, f"the run's --lookback {lookback}", data)
    levels = parse_quantiles(options.quantiles) if model.likelihood == "gaussian" else []
    frequency = table.frequency or config["data"].get("frequency")
    pieces, plotted = [], []
    for series in table.series:
        mean, quantiles = forecast_series(model, scaler, series, table, options, steps, levels)
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
) -> tuple[np.ndarray, np.ndarray | None]:
    """Point forecast ``(steps, n)`` and quantiles ``(steps, n, Q)`` of one series, file units."""
    L, H, n = options.lookback, options.horizon, len(table.columns.targets)
    future_cov = _future_covariates(series, table, options, steps)
    history = scaler.transform(series.name, joined(series)[-L:]).astype(np.float32)
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
            if levels:
                quantiles.append(forecast.quantiles(levels)[0, :take].numpy())
            targets = np.concatenate([targets, mean])
            covariates = np.concatenate([covariates, chunk_cov[:take]])
            done += take
    target_columns = slice(0, n)
    mean_units = scaler.inverse(series.name, np.concatenate(means), target_columns)
    if not levels:
        return mean_units, None
    q = np.concatenate(quantiles)  # (steps, n, Q)
    q_units = scaler.inverse(series.name, np.moveaxis(q, -1, 0), target_columns)
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
    """Task, model, data and test metrics of a forecast run."""
    run_dir = Path(run_dir)
    config = read_run_config(run_dir, expected_task=TASK)
    model = config.get("model", {})
    data = config.get("data", {})
    test = config.get("results", {}).get("test", {})
    parameters = parameter_count(lambda: Forecaster(**model))
    return {
        "task": TASK,
        "run_dir": str(run_dir),
        "model": {**model, "parameters": parameters},
        "data": {
            key: data.get(key)
            for key in ("file", "targets", "time_column", "frequency", "rows", "train_windows")
        },
        "test": {k: v for k, v in test.items() if not isinstance(v, (list, dict))},
    }
