"""Anomaly detection: score each point of a series by how badly a model trained on it expected it.

The Python API behind ``rnnkit train detect``, ``rnnkit detect`` and ``rnnkit evaluate`` /
``info`` on a detect run::

    from rnnkit.tasks import detect

    run_dir = detect.train(detect.DetectOptions(
        data="machine.csv", out="runs/machine", target="value", time_column="timestamp"))
    frame, metrics = detect.detect(run_dir, "machine.csv", output="scores.csv")
    stream = detect.open_stream(run_dir)          # one row at a time, carrying the state
    time, score, flag = stream.push({"timestamp": "2024-05-01 10:00", "value": "3.2"})

Two methods:

- ``predict`` (default): a one-step-ahead Gaussian forecaster (``Forecaster`` with the
  autoregressive decoder) reads ``(y_{t-1}, c_t)`` and predicts a mean and a spread of ``y_t``;
  the score of row ``t`` is ``sqrt(mean_j z_j^2)`` with ``z = (y_t - mean) / spread``, the error
  in units of the model's own predicted spread. The recurrent state runs over the whole series
  from its first row, so scoring in a stream, row by row, gives the batch scores. Row 0 has no
  score.
- ``reconstruct``: an LSTM autoencoder rebuilds the window of the last ``window`` rows; the score
  of row ``t`` is the error of its reconstruction (the window's last row) in units of the
  training rows' RMS error. The first ``window - 1`` rows have no score.

With ``season`` (found on the training rows by autocorrelation unless given; 0: none) the model
also reads, at row ``t``, the targets one season back, ``y_{t-m}``, as extra covariates
(``add_seasonal_lag``): a daily pattern's sharp but regular steps are then expected, and only a
break in the pattern scores high.

The first ``1 - val_fraction`` of the series trains the model and fits the scaler (``scaler.json``;
a resumed run loads it, never fits it again); the threshold is chosen on the scores of those
training rows alone (``threshold_quantile``, raised by ``threshold_margin`` times the gap between
that quantile and the median: ``rnnkit.tasks.detect_events.choose_threshold``) unless
``threshold`` is given. Events are cut from the scores events are judged by (the ``score``
column ``detect`` writes; none in the first ``season`` rows): with a season, each row score is
first divided by the median of the row scores at the same phase of the 5 seasons before (at least
the median error a calibrated model expects, 0.6745: ``detect_events.PhaseNormaliser``), so an
error the model makes every day at that hour is not news; then each row's is the RMS of the last
``smooth`` of those. Scores above the threshold less than ``min_gap`` rows apart form one event
(default gap: a tenth of the training rows), and a row is flagged when it starts an event, so one
anomaly gives one flag; the first ``probation`` rows are never flagged (default: NAB's
probationary period, 15% of the training file's rows up to 750). Threshold, gap, probation and the
reconstruction error scale are set once training ends and stored in config.json's ``detector``
section. With a label column (0/1),
detection reports point-wise and event-wise precision, recall and F1
(``rnnkit.metrics.anomaly``) and the file's NAB score (``rnnkit.metrics.nab``, standard profile).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from rnnkit.data.series import (
    SINGLE_SERIES,
    SeriesColumns,
    SeriesScaler,
    SeriesTable,
    calendar_values,
    gather_windows,
    load_series,
    parse_names,
    read_frame,
    require_length,
)
from rnnkit.data.windows import Spans, joined
from rnnkit.errors import UserError
from rnnkit.metrics import nab
from rnnkit.metrics.anomaly import label_metrics
from rnnkit.models.autoencoder import SequenceAutoencoder
from rnnkit.models.forecaster import Forecast, Forecaster
from rnnkit.tasks import lifecycle, series_common
from rnnkit.tasks.detect_events import (
    EventTracker,
    PhaseNormaliser,
    ScoreSmoother,
    choose_threshold,
    event_flags,
    phase_normalise,
    smooth_scores,
)
from rnnkit.tasks.lifecycle import Prepared, Run
from rnnkit.tasks.options import option
from rnnkit.training import StepResult

TASK = "detect"
METHODS = ("predict", "reconstruct")
DETECTION = "Detection"


@dataclass
class DetectOptions(series_common.SeriesOptions):
    """Everything ``rnnkit train detect`` takes.

    The label column, the method, the window and the validation share are fixed for a resumed
    run (the scaler is fitted on the rows before the validation share); the threshold options
    are applied once training ends.
    """

    label_column: str | None = option(
        None, help="0/1 anomaly labels, for metrics only.", panel=DETECTION, fixed=True
    )
    method: Literal["predict", "reconstruct"] = option(
        "predict",
        help="Score by one-step prediction error or autoencoder reconstruction error.",
        panel=DETECTION,
        fixed=True,
    )
    window: int = option(64, help="Rows per training window.", panel=DETECTION, fixed=True)
    season: int | None = option(
        None,
        help="Period in rows whose lagged values the model reads (default: found; 0: none).",
        panel=DETECTION,
        fixed=True,
    )
    val_fraction: float = option(
        0.2, help="Last share of rows for validation and threshold.", panel=DETECTION, fixed=True
    )
    threshold: float | None = option(
        None, help="Flag scores above this (default: a quantile).", panel=DETECTION
    )
    threshold_quantile: float = option(
        0.99, help="Quantile of the training rows' scores as threshold.", panel=DETECTION
    )
    threshold_margin: float = option(
        0.5,
        help="Raise the threshold by this many (quantile - median) gaps of training scores.",
        panel=DETECTION,
    )
    min_gap: int | None = option(
        None,
        help="Exceedances closer than this many rows are one event (default: training rows/10).",
        panel=DETECTION,
    )
    smooth: int = option(
        4, help="Score each row by the RMS of the last this many row scores.", panel=DETECTION
    )
    probation: int | None = option(
        None,
        help="Never flag the first this many rows (default: as NAB, 15% up to 750).",
        panel=DETECTION,
    )
    # TrainOptions defaults that suit detection
    epochs: int | None = 20

    def validate(self) -> DetectOptions:
        """Check every value; raise ``UserError`` naming the first bad option. Returns ``self``."""
        super().validate()
        if self.method not in METHODS:
            raise UserError(f"--method {self.method!r} is not known; use predict or reconstruct.")
        self.require_whole_numbers("window", at_least=2)
        self.require_fractions("val_fraction", "threshold_quantile")
        self.require_whole_numbers("min_gap", "season", "probation", at_least=0, optional=True)
        self.require_whole_numbers("smooth")
        self.require_non_negative("threshold_margin")
        if self.label_column is not None and self.label_column in parse_names(self.target):
            raise UserError(
                f"--label-column {self.label_column!r} is also a --target; labels are never "
                "inputs, so name another column."
            )
        return self


# ------------------------------------------------------------------------------------ scoring

#: the smallest autocorrelation at which ``find_season`` accepts a period
_SEASON_CORRELATION = 0.3


def find_season(values: np.ndarray, max_lag: int) -> int:
    """The period of ``values (T,)``: the lag ``2 .. max_lag`` of the highest autocorrelation
    among its local peaks, when that is at least 0.3; else 0 (no season)."""
    x = np.asarray(values, dtype=np.float64)
    x = x - x.mean()
    max_lag = min(max_lag, len(x) // 2)
    variance = float(np.dot(x, x))
    if max_lag < 3 or variance == 0:
        return 0
    acf = np.array([np.dot(x[:-lag], x[lag:]) / variance for lag in range(1, max_lag + 1)])
    lags = np.arange(1, max_lag + 1)
    peaks = (acf[1:-1] > acf[:-2]) & (acf[1:-1] >= acf[2:])
    candidates = lags[1:-1][peaks]
    if len(candidates) == 0:
        return 0
    best = candidates[np.argmax(acf[candidates - 1])]
    return int(best) if acf[best - 1] >= _SEASON_CORRELATION else 0


def add_seasonal_lag(scaled: np.ndarray, num_targets: int, season: int) -> np.ndarray:
    """``scaled (T, n + C)`` with the targets ``season`` rows back appended: ``(T, n + C + n)``
    (row ``t < season`` gets row 0's); unchanged for ``season = 0``."""
    if season == 0:
        return scaled
    rows = np.maximum(np.arange(len(scaled)) - season, 0)
    return np.concatenate([scaled, scaled[rows, :num_targets]], axis=1)


def rms(z: np.ndarray) -> np.ndarray:
    """Root mean square over the last axis."""
    return np.sqrt(np.mean(z**2, axis=-1))


class Detector:
    """A trained model with what scoring needs: method, target count, window, error scale."""

    def __init__(
        self,
        model: nn.Module,
        method: str,
        num_targets: int,
        window: int,
        error_scale: list[float] | np.ndarray | None = None,
    ) -> None:
        self.model, self.method, self.n, self.window = model, method, num_targets, window
        self.error_scale = None if error_scale is None else np.asarray(error_scale)

    def batch_scores(self, scaled: np.ndarray) -> np.ndarray:
        """Scores ``(T,)`` of a whole scaled series ``(T, n + C)`` (NaN where none)."""
        scores = np.full(len(scaled), np.nan)
        device = next(self.model.parameters()).device
        with torch.no_grad():
            if self.method == "predict":
                inputs = np.concatenate([scaled[:-1, : self.n], scaled[1:, self.n :]], axis=1)
                tensor = torch.from_numpy(inputs.astype(np.float32))[None].to(device)
                forecast, _ = self.model.one_step(tensor)
                mean = forecast.mean[0].float().cpu().numpy()
                scale = forecast.scale[0].float().cpu().numpy()
                scores[1:] = rms((scaled[1:, : self.n] - mean) / scale)
            else:
                errors = self.reconstruction_errors(scaled)
                scores[self.window - 1 :] = rms(errors / self.error_scale)
        return scores

    def reconstruction_errors(self, scaled: np.ndarray) -> np.ndarray:
        """Error of each window's last row ``(T - W + 1, n)``, windows ending at rows W-1 .. T-1."""
        starts = np.arange(len(scaled) - self.window + 1)
        windows = gather_windows(scaled.astype(np.float32), starts, self.window)
        device = next(self.model.parameters()).device
        rebuilt = []
        with torch.no_grad():
            for first in range(0, len(windows), 1024):
                batch = torch.from_numpy(windows[first : first + 1024]).to(device)
                rebuilt.append(self.model(batch)[:, -1].float().cpu().numpy())
        return windows[:, -1, : self.n] - np.concatenate(rebuilt)


class StreamScorer:
    """Scores one scaled row at a time, carrying what the batch mode computes in one pass.

    ``predict`` carries the recurrent state and the previous row; ``reconstruct`` the last
    ``window`` rows. ``push`` returns the row's score, or NaN while there is none yet.
    """

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self.state = None
        self.previous: np.ndarray | None = None
        self.recent: deque[np.ndarray] = deque(maxlen=detector.window)

    def push(self, row: np.ndarray) -> float:
        d = self.detector
        if d.method == "reconstruct":
            self.recent.append(row)
            if len(self.recent) < d.window:
                return math.nan
            return float(d.batch_scores(np.stack(self.recent))[-1])
        previous, self.previous = self.previous, row
        if previous is None:
            return math.nan
        step_input = np.concatenate([previous[: d.n], row[d.n :]]).astype(np.float32)
        device = next(d.model.parameters()).device
        with torch.no_grad():
            tensor = torch.from_numpy(step_input)[None, None].to(device)
            forecast, self.state = d.model.one_step(tensor, self.state)
        mean = forecast.mean[0, 0].float().cpu().numpy()
        scale = forecast.scale[0, 0].float().cpu().numpy()
        return float(rms((row[: d.n] - mean) / scale))


# ------------------------------------------------------------------------------------ training


class DetectObjective:
    """Windows of the training span; validation loss over the validation span."""

    monitor = "loss"
    mode: Literal["min", "max"] = "min"

    def __init__(self, detector: Detector, scaled: np.ndarray, train_end: int, batch_size: int):
        self.detector, self.scaled, self.train_end = detector, scaled, train_end
        self.batch_size, n = batch_size, detector.n
        window = detector.window
        if detector.method == "predict":
            # step t reads (y_{t-1}, c_t) and predicts y_t, for t = 1 .. train_end - 1
            inputs = np.concatenate([scaled[:-1, :n], scaled[1:, n:]], axis=1)
            self.inputs = inputs.astype(np.float32)
            self.targets = scaled[1:, :n].astype(np.float32)
            starts = np.arange(0, train_end - 1 - window + 1, max(1, window // 2))
            self.train_inputs = torch.from_numpy(gather_windows(self.inputs, starts, window))
            self.train_targets = torch.from_numpy(gather_windows(self.targets, starts, window))
        else:
            starts = np.arange(0, train_end - window + 1)
            windows = gather_windows(scaled.astype(np.float32), starts, window)
            self.train_inputs = torch.from_numpy(windows)
            self.train_targets = self.train_inputs[..., :n]

    def batches_per_epoch(self) -> int:
        return math.ceil(len(self.train_inputs) / self.batch_size)

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[dict[str, Tensor]]:
        order = torch.randperm(len(self.train_inputs), generator=generator)
        for first in range(0, len(order), self.batch_size):
            rows = order[first : first + self.batch_size]
            yield {"inputs": self.train_inputs[rows], "targets": self.train_targets[rows]}

    def training_step(self, model: nn.Module, batch: dict[str, Tensor], carry: Any) -> StepResult:
        if self.detector.method == "predict":
            forecast, _ = model.one_step(batch["inputs"])
            loss = model.loss(forecast, batch["targets"])
        else:
            loss = nn.functional.mse_loss(model(batch["inputs"]).float(), batch["targets"])
        return StepResult(loss=loss, items=batch["inputs"].shape[0])

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        if self.train_end >= len(self.scaled):
            return {}
        device = next(model.parameters()).device
        n = self.detector.n
        if self.detector.method == "predict":
            forecast, _ = model.one_step(torch.from_numpy(self.inputs)[None].to(device))
            targets = torch.from_numpy(self.targets)[None].to(device)
            first = self.train_end - 1  # input index whose target is row train_end
            val = Forecast(forecast.mean[:, first:], forecast.scale[:, first:])
            return {"loss": float(model.loss(val, targets[:, first:]))}
        errors = self.detector.reconstruction_errors(self.scaled)
        first = self.train_end - (self.detector.window - 1)
        return {"loss": float(np.mean(errors[max(0, first) :, :n] ** 2))}


def build_model(options: DetectOptions, num_targets: int, num_covariates: int) -> nn.Module:
    """The scoring model of ``options.method``: a one-step Gaussian forecaster or an autoencoder."""
    if options.method == "predict":
        return Forecaster(
            num_targets,
            num_covariates,
            horizon=1,
            hidden_size=options.hidden,
            num_layers=options.layers,
            cell=options.cell,
            dropout=options.dropout,
            decoder="autoregressive",
            likelihood="gaussian",
        )
    return SequenceAutoencoder(
        num_targets + num_covariates,
        num_targets,
        hidden_size=options.hidden,
        num_layers=options.layers,
        cell=options.cell,
    )


class DetectTask(series_common.SeriesTask[DetectOptions]):
    """The detect task: one series, a scaler fitted on its training rows, a scoring model."""

    name = TASK
    options_class = DetectOptions
    summary = "Train an anomaly detector on a (mostly normal) series."

    def training_columns(self, options: DetectOptions) -> SeriesColumns:
        return options.columns(label=options.label_column)

    def prepare(self, options: DetectOptions, resumed: Run | None) -> Prepared:
        table = self.training_table(options, resumed)
        series = table.series[0]
        train_end = round((1.0 - options.val_fraction) * len(series))
        needed = math.ceil((options.window + 1) / (1.0 - options.val_fraction))
        require_length(
            table,
            needed,
            f"--window {options.window} in the first {1 - options.val_fraction:.0%}",
            options.data,
        )
        # training rows, then validation rows to the end: detection has no test span
        spans = Spans({series.name: (train_end, len(series), len(series))})
        scaler = series_common.training_scaler(table, spans, resumed)
        n = len(table.columns.targets)
        season = options.season
        if season is None:
            season = find_season(series.values[:train_end, 0], max_lag=train_end // 4)
        # (T, n + C [+ n]): the lagged targets are the last covariates
        scaled = add_seasonal_lag(scaler.transform(series.name, joined(series)), n, season)
        model = build_model(options, n, scaled.shape[1] - n)
        detector = Detector(model, options.method, n, options.window)

        def finish(model: nn.Module, results: dict[str, Any]) -> dict[str, Any]:
            trained = Detector(model.cpu(), options.method, n, options.window)
            return {"detector": calibrate(trained, scaled, train_end, options, season)}

        return Prepared(
            model=model,
            objective=DetectObjective(detector, scaled, train_end, options.batch_size),
            sections={"data": {**_data_section(options, table), "season": season}},
            artifacts={series_common.SCALER_FILE: scaler.to_dict()},
            finish=finish,
            model_config={"method": options.method, **model.config()},
        )

    def model_from_config(self, model_config: dict[str, Any]) -> nn.Module:
        """The model of a ``model`` section: ``method`` names the class, the rest its arguments."""
        arguments = dict(model_config)
        method = arguments.pop("method")
        if method == "predict":
            return Forecaster(**arguments)
        if method == "reconstruct":
            return SequenceAutoencoder(**arguments)
        raise ValueError(f"method {method!r} is not one of {', '.join(METHODS)}")

    def evaluate(self, run: Run, data: Path, *, encoding: str = "utf-8") -> dict[str, Any]:
        """Rows, flags, threshold, and with the run's label column P/R/F1 point- and event-wise."""
        _, metrics = score_file(self.load(run), data, encoding=encoding)
        return metrics

    def load(self, run: Run) -> DetectRun:
        """The trained detector (CPU, eval mode), scaler and threshold of a detect run; checked."""
        data = series_common.stored_data(run)
        options = run.options(DetectOptions)
        section = run.config.get("detector")
        if not isinstance(section, dict) or "threshold" not in section:
            raise UserError(
                f"{run.config_path} has no 'detector' section with a threshold (an interrupted "
                "training never sets it); resume the run with --resume or train it again."
            )
        try:
            threshold = float(section["threshold"])
        except (TypeError, ValueError):
            raise UserError(
                f"{run.config_path} has an unusable threshold {section['threshold']!r}; train the "
                "run again."
            ) from None
        model = self.load_model(run)
        method = run.section("model")["method"]  # there: load_model built the model from it
        error_scale = section.get("error_scale")
        if method == "reconstruct" and error_scale is None:
            raise UserError(
                f"{run.config_path} has no 'error_scale' in its 'detector' section, which the "
                "reconstruct method scores with; train the run again."
            )
        detector = Detector(model, method, len(data["targets"]), options.window, error_scale)
        min_gap = int(section.get("min_gap", 0))  # runs from before event merging: 0
        probation = int(section.get("probation", 0))  # older runs: none
        phase = bool(section.get("phase", False))  # older runs: raw scores
        scaler = series_common.load_scaler(run)
        season = int(data.get("season", 0))  # runs from before the seasonal lag: 0
        return DetectRun(
            detector, scaler, run, options, threshold, min_gap, season, probation, phase
        )

    def describe_data(self, data: dict[str, Any]) -> dict[str, Any]:
        keys = ("file", "targets", "time_column", "label_column", "rows")
        return {key: data.get(key) for key in keys}

    def describe_more(self, run: Run) -> dict[str, Any]:
        return {
            "threshold": run.config.get("detector", {}).get("threshold"),
            "min_gap": run.config.get("detector", {}).get("min_gap"),
            "validation": run.config.get("results", {}).get("metrics", {}),
        }


TASK_SPEC = DetectTask()


def train(options: DetectOptions) -> Path:
    """Train a detector as ``options`` say, set its threshold; return the run directory.

    Every check of the user's input runs before anything is written, so a refused run leaves
    the run directory as it was.
    """
    return lifecycle.train(TASK_SPEC, options)


def detection_scores(
    detector: Detector, scaled: np.ndarray, smooth: int, season: int, phase: bool = True
) -> np.ndarray:
    """The scores events are cut from ``(T,)``: the detector's, NaN for the first ``season``
    rows (no row one season back yet), with ``phase`` judged against the scores at the same
    phase of the seasons before (``phase_normalise``), smoothed over ``smooth`` rows."""
    scores = detector.batch_scores(scaled)
    scores[: season + 1 if season else 0] = np.nan
    if phase:
        scores = phase_normalise(scores, season)
    return smooth_scores(scores, smooth)


def calibrate(
    detector: Detector, scaled: np.ndarray, train_end: int, options: DetectOptions, season: int
) -> dict[str, Any]:
    """Set the trained detector's error scale (reconstruct) and choose its threshold.

    ``scaled (T, n + C)`` is the whole training series, its first ``train_end`` rows the training
    span, whose scores alone choose the threshold (after the first ``window`` rows, where the
    recurrent state is still settling). Returns the ``detector`` section of config.json:
    ``threshold``, ``min_gap``, ``probation``, ``phase`` (scores judged by phase: see
    ``detection_scores``), ``train_rows`` and ``error_scale`` (per target; None for predict).
    """
    if detector.method == "reconstruct":
        errors = detector.reconstruction_errors(scaled[:train_end])  # (train_end - W + 1, n)
        detector.error_scale = np.sqrt(np.mean(errors**2, axis=0)) + 1e-8
    threshold = options.threshold
    if threshold is None:
        scores = detection_scores(detector, scaled[:train_end], options.smooth, season)
        settled = scores[min(options.window, train_end // 2) :]
        threshold = choose_threshold(settled, options.threshold_quantile, options.threshold_margin)
    min_gap = options.min_gap if options.min_gap is not None else max(1, train_end // 10)
    probation = options.probation
    if probation is None:
        probation = nab.probation_rows(len(scaled))
    return {
        "threshold": threshold,
        "min_gap": min_gap,
        "probation": probation,
        "phase": True,
        "train_rows": train_end,
        "error_scale": None if detector.error_scale is None else detector.error_scale.tolist(),
    }


def _data_section(options: DetectOptions, table: SeriesTable) -> dict[str, Any]:
    return {
        **series_common.columns_section(options, table),
        "label_column": table.columns.label,
        "frequency": table.frequency,
        "rows": len(table.series[0]),
    }


# ------------------------------------------------------------------------------------ using a run


@dataclass
class DetectRun:
    """A trained detect run, ready to score: its detector, scaler, options and threshold."""

    detector: Detector
    scaler: SeriesScaler
    run: Run
    options: DetectOptions
    threshold: float
    min_gap: int = 0
    season: int = 0
    probation: int = 0
    phase: bool = False

    @property
    def config(self) -> dict[str, Any]:
        return self.run.config

    @property
    def data(self) -> dict[str, Any]:
        """The run's checked ``data`` section."""
        return series_common.stored_data(self.run)

    def columns(self, label: str | None = None) -> SeriesColumns:
        """The columns the run was trained on (``label``: also read this label column)."""
        return series_common.stored_columns(self.run, label)

    def calendar(self) -> list[str] | None:
        return series_common.stored_calendar(self.run)


def load_run(run_dir: str | Path) -> DetectRun:
    """The detector (CPU, eval mode), scaler, options and threshold of a detect run; checked."""
    return TASK_SPEC.load(TASK_SPEC.open(run_dir))


def _read(run: DetectRun, data: str | Path, encoding: str, with_labels: bool) -> SeriesTable:
    data = Path(data)
    frame = read_frame(data, encoding)
    series_common.check_same_columns(frame, run.data["file_columns"], data)
    label = run.data.get("label_column") if with_labels else None
    table = load_series(
        data, run.columns(label), fill=run.options.fill, frame=frame, calendar=run.calendar()
    )
    require_length(table, 2, "scoring", data)
    return table


def detect(
    run_dir: str | Path,
    data: str | Path,
    *,
    output: str | Path | None = None,
    plot: str | Path | None = None,
    encoding: str = "utf-8",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Score and flag every row of ``data``; metrics too when the run has a label column.

    Returns the table written to ``output`` (CSV: the time column or ``row``, ``score`` (empty
    where there is none), ``flag`` 1 on the first row of each event) and the metrics (empty
    without labels).
    """
    return score_file(load_run(run_dir), data, output=output, plot=plot, encoding=encoding)


def score_file(
    run: DetectRun,
    data: str | Path,
    *,
    output: str | Path | None = None,
    plot: str | Path | None = None,
    encoding: str = "utf-8",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``detect`` with the run already loaded."""
    table = _read(run, data, encoding, with_labels=run.data.get("label_column") is not None)
    series = table.series[0]
    scaled = run.scaler.transform(series.name, joined(series))
    features = add_seasonal_lag(scaled, run.detector.n, run.season)
    scores = detection_scores(run.detector, features, run.options.smooth, run.season, run.phase)
    flags = event_flags(scores, run.threshold, run.min_gap, run.probation)
    index_name = run.data["time_column"] or "row"
    index = series.times if series.times is not None else np.arange(1, len(series) + 1)
    frame = pd.DataFrame({index_name: index, "score": scores, "flag": flags.astype(int)})
    metrics = {"rows": len(series), "flagged": int(flags.sum()), "threshold": run.threshold}
    if series.labels is not None:
        metrics.update(label_metrics(series.labels, flags))
        windows = nab.windows_of(series.labels)
        if windows:
            file_score = nab.score_file(flags, windows)
            metrics["nab_raw"] = file_score.score
            metrics["nab_score"] = nab.normalised([file_score])
    if output is not None:
        frame.to_csv(output, index=False)
    if plot is not None:
        from rnnkit.viz.forecast import plot_anomalies

        plot_anomalies(
            index,
            series.values[:, 0],
            scores,
            flags,
            run.threshold,
            run.data["targets"][0],
            plot,
            labels=series.labels,
        )
    return frame, metrics


def evaluate(run_dir: str | Path, data: str | Path, *, encoding: str = "utf-8") -> dict[str, Any]:
    """Rows, flags, threshold, and with the run's label column P/R/F1 point- and event-wise."""
    return TASK_SPEC.evaluate(TASK_SPEC.open(run_dir), Path(data), encoding=encoding)


# ------------------------------------------------------------------------------------ streaming


class RowStream:
    """Turns raw rows (column -> text) into scores, one at a time, as ``rnnkit detect --stream``.

    Each row must have the training file's columns. A missing value is refused, or with the run's
    ``--fill`` replaced by the previous row's value (a stream cannot interpolate).
    """

    def __init__(self, run: DetectRun) -> None:
        self.run = run
        self.scorer = StreamScorer(run.detector)
        self.events = EventTracker(run.threshold, run.min_gap, run.probation)
        self.phase = PhaseNormaliser(run.season if run.phase else 0)
        self.smoother = ScoreSmoother(run.options.smooth)
        self.first_targets: np.ndarray | None = None
        self.past_targets: deque[np.ndarray] = deque(maxlen=max(run.season, 1))
        self.columns = run.columns()
        self.row_number = 0
        self.last_values: np.ndarray | None = None
        self.last_time: pd.Timestamp | None = None

    def check_header(self, header: list[str]) -> None:
        series_common.check_same_columns(
            pd.DataFrame(columns=header), self.run.data["file_columns"], Path("<stdin>")
        )

    def push(self, row: Mapping[str, str]) -> tuple[str, float, bool]:
        """(the row's time or number, score or NaN, flag) of the next row."""
        self.row_number += 1
        names = self.columns.numeric()
        values = np.array([self._number(row, name, k) for k, name in enumerate(names)])
        self.last_values = values
        key = str(self.row_number)
        features = values
        if self.columns.time is not None:
            time = self._time(row[self.columns.time])
            key = str(time)
            if self.columns.calendar:
                times = pd.DatetimeIndex([time])
                calendar = calendar_values(times, self.run.calendar() or [])[0]
                features = np.concatenate([values, calendar])
        scaled = self.run.scaler.transform(SINGLE_SERIES, features)
        score = self.scorer.push(self._with_lag(scaled))
        if self.run.season and self.row_number <= self.run.season + 1:
            score = math.nan  # no row one season back yet
        score = self.smoother.push(self.phase.push(score))
        return key, score, self.events.push(score)

    def _with_lag(self, scaled: np.ndarray) -> np.ndarray:
        """The row with the targets one season back appended, as ``add_seasonal_lag`` does."""
        season, n = self.run.season, self.run.detector.n
        if season == 0:
            return scaled
        if self.first_targets is None:
            self.first_targets = scaled[:n].copy()
        full = len(self.past_targets) == season
        lagged = self.past_targets[0] if full else self.first_targets
        self.past_targets.append(scaled[:n].copy())
        return np.concatenate([scaled, lagged])

    def _number(self, row: Mapping[str, str], name: str, k: int) -> float:
        text = (row.get(name) or "").strip()
        try:
            value = float(text) if text else math.nan
        except ValueError:
            raise UserError(
                f"stdin row {self.row_number} has {text!r} in column {name!r}, which is not a "
                "number; send numbers only."
            ) from None
        if math.isnan(value):
            if self.run.options.fill is None or self.last_values is None:
                raise UserError(
                    f"stdin row {self.row_number} has no value in column {name!r}; send every "
                    "value, or train with --fill to carry the last one forward."
                )
            value = float(self.last_values[k])
        return value

    def _time(self, text: str) -> pd.Timestamp:
        try:
            time = pd.Timestamp(text)
        except ValueError:
            time = pd.NaT
        if pd.isna(time):
            raise UserError(f"stdin row {self.row_number} has {text!r} as its time, not a date.")
        if self.last_time is not None and time <= self.last_time:
            raise UserError(
                f"stdin row {self.row_number} ({time}) does not come after the row before; send "
                "rows in time order without duplicates."
            )
        self.last_time = time
        return time


def open_stream(run_dir: str | Path) -> RowStream:
    """A ``RowStream`` over a trained detect run."""
    return RowStream(load_run(run_dir))


def describe(run_dir: str | Path) -> dict[str, Any]:
    """Task, model, data, training, threshold and validation metrics of a detect run."""
    return TASK_SPEC.describe(TASK_SPEC.open(run_dir))
