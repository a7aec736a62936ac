"""What a training run tells the world: progress on stderr, ``metrics.csv``, TensorBoard events.

``Progress`` draws a rich progress bar (loss, task metric, items/s, ETA) when stderr is a terminal
and prints plain log lines otherwise (CI, pipes). ``MetricsLog`` keeps ``metrics.csv``: one row per
log interval (step, epoch, train_loss, items_per_s, lr) and one per evaluation (val_<metric>).
Only rank 0 reports; the other ranks get disabled instances.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rnnkit.training.atomic import atomic_write_text

BASE_COLUMNS = ("step", "epoch", "train_loss", "items_per_s", "lr")


def format_duration(seconds: float) -> str:
    """``3725`` -> ``"1h02m05s"``; ``"?"`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = int(round(max(0.0, seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def format_metrics(metrics: Mapping[str, float]) -> str:
    """``{"loss": 1.23456}`` -> ``"loss 1.2346"``."""
    return " ".join(f"{name} {value:.4g}" for name, value in metrics.items())


class Progress:
    """Progress on stderr: a rich bar on a terminal, plain lines every ``log_every`` steps else."""

    def __init__(self, mode: str, *, enabled: bool, total_steps: int | None, log_every: int):
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "plain"
        self.mode = mode if enabled else "off"
        self.total_steps = total_steps
        self.log_every = log_every
        self._bar = None
        self._task = None

    def __enter__(self) -> Progress:
        if self.mode == "bar":
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("[bold]train"),
                BarColumn(bar_width=16),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                console=Console(stderr=True),
                transient=False,
                redirect_stdout=False,  # results printed to stdout must stay on stdout
                redirect_stderr=True,  # other log lines go above the bar
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("train", total=self.total_steps, status="")
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc_info)
            self._bar = None

    def message(self, text: str) -> None:
        """A line of news (evaluation results, warnings) above the bar or in the log."""
        if self.mode == "off":
            return
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=sys.stderr, flush=True)

    def update(
        self,
        *,
        step: int,
        epoch: float,
        loss: float,
        metrics: Mapping[str, float],
        items_per_second: float,
        lr: float,
        eta_seconds: float | None,
    ) -> None:
        """Called after every step; the bar redraws, plain mode prints every ``log_every``."""
        if self._bar is None and (self.mode != "plain" or step % self.log_every != 0):
            return
        status = (
            f"epoch {epoch:.2f} loss {loss:.4f} {format_metrics(metrics)} "
            f"{items_per_second:,.0f} items/s lr {lr:.1e} eta {format_duration(eta_seconds)}"
        ).replace("  ", " ")
        if self._bar is not None:
            self._bar.update(self._task, completed=step, status=status)
        else:
            total = f"/{self.total_steps}" if self.total_steps else ""
            print(f"step {step}{total} {status}", file=sys.stderr, flush=True)


class MetricsLog:
    """``metrics.csv``: rows appended as training goes; the header grows with new columns."""

    def __init__(self, path: str | Path, *, enabled: bool) -> None:
        self.path = Path(path)
        self.enabled = enabled
        self.rows: list[dict[str, Any]] = []
        self.columns: list[str] = list(BASE_COLUMNS)

    def start(self, resume_step: int | None, kept_rows: int | None = None) -> None:
        """Fresh run: start an empty file. Resume: keep the rows up to ``resume_step``, at most
        the first ``kept_rows`` of them (the rows the checkpoint saw: an evaluation logged after
        it, at the same step, runs again on resume)."""
        self.rows = []
        if resume_step is not None and self.path.is_file():
            with self.path.open(newline="", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    parsed = _parse_row(row)
                    if parsed is not None and parsed["step"] <= resume_step:
                        self.rows.append(parsed)
            self.rows = self.rows[:kept_rows]
            for row in self.rows:
                self._add_columns(row)
        if self.enabled:
            self._rewrite()

    def append(self, row: Mapping[str, Any]) -> None:
        """Add one row (missing columns stay empty)."""
        row = dict(row)
        self.rows.append(row)
        if not self.enabled:
            return
        if self._add_columns(row):
            self._rewrite()
        else:
            with self.path.open("a", newline="", encoding="utf-8") as handle:
                csv.DictWriter(handle, fieldnames=self.columns).writerow(_formatted(row))

    def _add_columns(self, row: Mapping[str, Any]) -> bool:
        new = [name for name in row if name not in self.columns]
        self.columns.extend(new)
        return bool(new)

    def _rewrite(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns)
        writer.writeheader()
        for row in self.rows:
            writer.writerow(_formatted(row))
        atomic_write_text(self.path, buffer.getvalue())


def _formatted(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}


def _parse_row(row: Mapping[str, str | None]) -> dict[str, Any] | None:
    """A CSV row with numbers parsed; ``None`` for a torn or unreadable row."""
    parsed: dict[str, Any] = {}
    for name, text in row.items():
        if name is None or text in (None, ""):
            continue
        try:
            parsed[name] = float(text)
        except ValueError:
            parsed[name] = text
    if not isinstance(parsed.get("step"), float):
        return None
    parsed["step"] = int(parsed["step"])
    return parsed


class TensorBoardLog:
    """TensorBoard scalars, when asked for and the ``tensorboard`` package is importable."""

    def __init__(self, log_dir: str | Path, *, enabled: bool, progress: Progress) -> None:
        self.writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            progress.message(
                "warning: --tensorboard needs the tensorboard package (pip install tensorboard); "
                "training goes on without it."
            )
            return
        self.writer = SummaryWriter(log_dir=str(log_dir))

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(name, value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
