"""The run directories under a folder, one summary each, for ``rnnkit runs``.

A run directory is a folder holding a ``config.json`` that ``rnnkit train`` wrote; the search
does not descend into a run (its ``checkpoint/`` and ``tensorboard/`` folders hold no runs).
Each summary says the task, when the run was created (the time its first file was written: its
artifacts and first config.json come before any training), how many steps it trained, and the
validation metric that chose its kept weights.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rnnkit.errors import UserError
from rnnkit.training import CONFIG_FILE, read_run_config


@dataclass(frozen=True)
class RunSummary:
    """One run directory as ``rnnkit runs`` shows it.

    ``monitor`` names the metric that chose the kept weights and ``best`` is its value (None when
    the run has not finished or had no validation); ``problem`` is the sentence saying why a
    folder with a config.json cannot be read (then only ``path`` is meaningful).
    """

    path: Path
    task: str | None
    created: datetime | None
    steps: int | None
    finished: bool
    monitor: str | None = None
    best: float | None = None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the path as text, the creation time in ISO 8601 (UTC)."""
        return {
            "path": str(self.path),
            "task": self.task,
            "created": self.created.isoformat(timespec="seconds") if self.created else None,
            "steps": self.steps,
            "finished": self.finished,
            "monitor": self.monitor,
            "best": self.best,
            "problem": self.problem,
        }


def find_run_dirs(folder: str | Path) -> list[Path]:
    """Every folder at or under ``folder`` that holds a config.json, in path order.

    ``UserError`` when ``folder`` does not exist or is not a folder.
    """
    root = Path(folder)
    if not root.exists():
        raise UserError(f"{root} does not exist; give a folder that holds run directories.")
    if not root.is_dir():
        raise UserError(f"{root} is not a folder; give a folder that holds run directories.")
    found = []
    for current, subfolders, files in os.walk(root):
        if CONFIG_FILE in files:
            found.append(Path(current))
            subfolders.clear()  # runs do not nest
        else:
            subfolders.sort()
    return sorted(found)


def summarize_run(run_dir: Path) -> RunSummary:
    """The summary of one run directory (its ``problem`` set when config.json is unusable)."""
    try:
        config = read_run_config(run_dir)
    except UserError as error:
        return RunSummary(run_dir, None, None, None, False, problem=str(error))
    results = config.get("results")
    finished = isinstance(results, dict)
    results = results if finished else {}
    metrics = results.get("metrics") or {}
    monitor = results.get("monitor")
    if monitor is None and len(metrics) == 1:  # runs written before results named their monitor
        monitor = next(iter(metrics))
    best = metrics.get(monitor) if monitor is not None else None
    return RunSummary(
        path=run_dir,
        task=config["task"],
        created=_created(run_dir),
        steps=results.get("step"),
        finished=finished,
        monitor=monitor,
        best=float(best) if isinstance(best, (int, float)) else None,
    )


def list_runs(folder: str | Path) -> list[RunSummary]:
    """Summaries of the run directories under ``folder``, oldest first."""
    summaries = [summarize_run(path) for path in find_run_dirs(folder)]
    oldest_first = datetime.max.replace(tzinfo=timezone.utc)
    return sorted(summaries, key=lambda s: (s.created or oldest_first, str(s.path)))


def _created(run_dir: Path) -> datetime:
    """When the first file of the run directory was written (UTC)."""
    times = [entry.stat().st_mtime for entry in run_dir.iterdir() if entry.is_file()]
    return datetime.fromtimestamp(min(times), tz=timezone.utc)
