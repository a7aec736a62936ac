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

The first ``1 - val_fraction`` of the series trains the model and fits the scaler; the threshold is
the ``threshold_quantile`` of the scores of the rest (the validation span) unless ``threshold`` is
given. A row is flagged when its score exceeds the threshold. With a label column (0/1), detection
reports point-wise and event-wise precision, recall and F1 (``rnnkit.metrics.anomaly``).
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
    SeriesScaler,
    SeriesTable,
    calendar_values,
    gather_windows,
    load_series,
    parse_names,
    read_frame,
    require_length,
)
from rnnkit.errors import UserError
from rnnkit.metrics.anomaly import event_scores, point_scores
from rnnkit.models.autoencoder import SequenceAutoencoder
from rnnkit.models.forecaster import Forecast, Forecaster
from rnnkit.tasks.forecast import (
    SCALER_FILE,
    SeriesOptions,
    check_same_columns,
    columns_section,
    joined,
    read_training_table,
    stored_calendar,
    stored_columns,
)
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

TASK = "detect"
METHODS = ("predict", "reconstruct")


@dataclass
class DetectOptions(SeriesOptions):
    """Everything ``rnnkit train detect`` takes."""

    label_column: str | None = None  # 0/1 anomaly labels: never an input, used for metrics
    method: Literal["predict", "reconstruct"] = "predict"
    window: int = 64  # rows per training window (and the autoencoder's window)
    val_fraction: float = 0.2  # the last share of the series: validation and threshold
    threshold: float | None = None  # flag scores above this; None: a quantile of validation
    threshold_quantile: float = 0.99
    epochs: int | None = 20

    def validate(self) -> DetectOptions:
        super().validate()
        if self.method not in METHODS:
            raise UserError(f"--method {self.method!r} is not known; use predict or reconstruct.")
        self.require_whole_numbers("window", at_least=2)
        self.require_fractions("val_fraction", "threshold_quantile")
        if self.label_column is not None and self.label_column in parse_names(self.target):
            raise UserError(
                f"--label-column {self.label_column!r} is also a --target; labels are never "
                "inputs, so name another column."
            )
        return self


# ------------------------------------------------------------------------------------ scoring


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


def train(options: DetectOptions) -> Path:
    """Train a detector as ``options`` say, set its threshold; return the run directory."""
    options.validate()
    out = Path(options.out)
    refuse_existing_run(out, options.resume)
    columns = options.columns(label=options.label_column)
    table = read_training_table(options, columns)
    series = table.series[0]
    train_end = round((1.0 - options.val_fraction) * len(series))
    needed = math.ceil((options.window + 1) / (1.0 - options.val_fraction))
    require_length(
        table,
        needed,
        f"--window {options.window} in the first {1 - options.val_fraction:.0%}",
        options.data,
    )
    scaler = SeriesScaler(columns=[*columns.targets, *table.covariate_names])
    scaler.fit(series.name, joined(series)[:train_end])
    scaled = scaler.transform(series.name, joined(series))

    seed_everything(options.seed)
    n = len(columns.targets)
    model = build_model(options, n, len(table.covariate_names))
    detector = Detector(model, options.method, n, options.window)
    sections: dict[str, Any] = {
        "options": options,
        "model": {"method": options.method, **model.config()},
        "data": _data_section(options, table),
    }
    out.mkdir(parents=True, exist_ok=True)
    write_config(out, TASK, **sections)
    scaler.save(out / SCALER_FILE)
    objective = DetectObjective(detector, scaled, train_end, options.batch_size)
    result = Trainer(model, objective, options.train_options(), out).fit()
    model.cpu().eval()
    if options.method == "reconstruct":
        errors = detector.reconstruction_errors(scaled[:train_end])
        detector.error_scale = np.sqrt(np.mean(errors**2, axis=0)) + 1e-8
    scores = detector.batch_scores(scaled)
    threshold = options.threshold
    if threshold is None:
        held_out = scores[train_end:]
        held_out = held_out[np.isfinite(held_out)]
        if len(held_out) == 0:
            held_out = scores[np.isfinite(scores)]
        threshold = float(np.quantile(held_out, options.threshold_quantile))
    sections["detector"] = {
        "threshold": threshold,
        "train_rows": train_end,
        "error_scale": None if detector.error_scale is None else detector.error_scale.tolist(),
    }
    results = {k: v for k, v in result.items() if not isinstance(v, Tensor)}
    write_config(out, TASK, **sections, results=results)
    return out


def _data_section(options: DetectOptions, table: SeriesTable) -> dict[str, Any]:
    return {
        **columns_section(options, table),
        "label_column": table.columns.label,
        "frequency": table.frequency,
        "rows": len(table.series[0]),
    }


# ------------------------------------------------------------------------------------ using a run


@dataclass
class DetectRun:
    detector: Detector
    scaler: SeriesScaler
    config: dict[str, Any]
    threshold: float

    @property
    def data(self) -> dict[str, Any]:
        return self.config["data"]

    def calendar(self) -> list[str] | None:
        return stored_calendar(self.config)


def load_run(run_dir: str | Path) -> DetectRun:
    """The detector (CPU, eval mode), scaler and config of a detect run; checked."""
    run_dir = Path(run_dir)
    config = read_run_config(run_dir, expected_task=TASK)
    try:
        model_config = dict(config["model"])
        method = model_config.pop("method")
        if method == "predict":
            model: nn.Module = Forecaster(**model_config)
        else:
            model = SequenceAutoencoder(**model_config)
        detector_section = config["detector"]
        window = int(config["options"]["window"])
        threshold = float(detector_section["threshold"])
        config["data"]["targets"]  # noqa: B018  (checks that the section is there)
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(
            f"{run_dir / CONFIG_FILE} is missing or has an unusable section ({error}); train the "
            "run again (an interrupted training never sets the threshold)."
        ) from None
    load_weights(model, run_dir / WEIGHTS_FILE)
    n = len(config["data"]["targets"])
    detector = Detector(model.eval(), method, n, window, detector_section.get("error_scale"))
    scaler = SeriesScaler.load(run_dir / SCALER_FILE)
    return DetectRun(detector, scaler, config, threshold)


def _read(run: DetectRun, data: str | Path, encoding: str, with_labels: bool) -> SeriesTable:
    data = Path(data)
    frame = read_frame(data, encoding)
    check_same_columns(frame, run.data["file_columns"], data)
    label = run.data.get("label_column") if with_labels else None
    columns = stored_columns(run.config, label)
    options = run.config["options"]
    table = load_series(
        data, columns, fill=options.get("fill"), frame=frame, calendar=run.calendar()
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
    where there is none), ``flag`` 0/1) and the metrics (empty without labels).
    """
    run = load_run(run_dir)
    table = _read(run, data, encoding, with_labels=run.data.get("label_column") is not None)
    series = table.series[0]
    scores = run.detector.batch_scores(run.scaler.transform(series.name, joined(series)))
    flags = np.nan_to_num(scores, nan=-np.inf) > run.threshold
    index_name = run.data["time_column"] or "row"
    index = series.times if series.times is not None else np.arange(1, len(series) + 1)
    frame = pd.DataFrame({index_name: index, "score": scores, "flag": flags.astype(int)})
    metrics = {"rows": len(series), "flagged": int(flags.sum()), "threshold": run.threshold}
    if series.labels is not None:
        metrics.update(label_metrics(series.labels, flags))
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


def label_metrics(labels: np.ndarray, flags: np.ndarray) -> dict[str, float]:
    """Point-wise and event-wise precision, recall and F1 (``point_f1``, ``event_f1``, ...), and
    the numbers of labelled ``events`` and flagged ``detections``."""
    metrics: dict[str, float] = {}
    for key, value in point_scores(labels, flags).items():
        metrics[f"point_{key}"] = value
    for key, value in event_scores(labels, flags).items():
        metrics[key if key in ("events", "detections") else f"event_{key}"] = value
    return metrics


def evaluate(run_dir: str | Path, data: str | Path, *, encoding: str = "utf-8") -> dict[str, Any]:
    """Rows, flags, threshold, and with the run's label column P/R/F1 point- and event-wise."""
    _, metrics = detect(run_dir, data, encoding=encoding)
    return metrics


# ------------------------------------------------------------------------------------ streaming


class RowStream:
    """Turns raw rows (column -> text) into scores, one at a time, as ``rnnkit detect --stream``.

    Each row must have the training file's columns. A missing value is refused, or with the run's
    ``--fill`` replaced by the previous row's value (a stream cannot interpolate).
    """

    def __init__(self, run: DetectRun) -> None:
        self.run = run
        self.scorer = StreamScorer(run.detector)
        self.columns = stored_columns(run.config)
        self.row_number = 0
        self.last_values: np.ndarray | None = None
        self.last_time: pd.Timestamp | None = None

    def check_header(self, header: list[str]) -> None:
        check_same_columns(
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
        score = self.scorer.push(scaled)
        return key, score, bool(math.isfinite(score) and score > self.run.threshold)

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
            if self.run.config["options"].get("fill") is None or self.last_values is None:
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
    """Task, model, data and threshold of a detect run."""
    run_dir = Path(run_dir)
    config = read_run_config(run_dir, expected_task=TASK)
    data = config.get("data", {})
    return {
        "task": TASK,
        "run_dir": str(run_dir),
        "model": config.get("model", {}),
        "data": {
            k: data.get(k) for k in ("file", "targets", "time_column", "label_column", "rows")
        },
        "threshold": config.get("detector", {}).get("threshold"),
        "validation": config.get("results", {}).get("metrics", {}),
    }
