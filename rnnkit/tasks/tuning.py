"""``rnnkit tune``: search a task's options with Optuna, each trial on the one train path.

::

    tune(task, options, TuneSettings(trials=8, time_per_trial=120)) -> TuneResult

``options`` are the base run's options, as ``rnnkit train`` takes them; the search draws the
options of the task's search space (``rnnkit.tasks.search_space``) over them. Each trial is a
normal run, ``lifecycle.train`` into ``<out>.trials/trial-NNNN`` with the drawn values and
``--time-per-trial`` as its time limit, and every trial starts from the same seed.

- **Sampler and pruner.** The first trial of a new study trains the base options' own values
  (``search_space.starting_point``: the defaults, unless flags changed them): the run that
  ``rnnkit train`` would make with the same flags and budget, so the best trial is at least
  as good on validation. Then Optuna's TPE sampler, seeded from ``--seed`` and the number of trials
  already in the study (one process alone draws the same trials every time; processes sharing
  a study draw different ones, and TPE's constant liar keeps them from crowding one point). The
  trainer's validation hook (``rnnkit.training.ValidationHook``) reports the monitored metric
  after each validation, numbered 1, 2, ... so that trials of different batch sizes compare
  validation for validation; when the median or Hyperband pruner says so, the hook stops the
  trial as early stopping would. Its run directory is then complete (kept weights, config.json
  with ``stop_reason: "pruned"``) and the trial is recorded as pruned.
- **Storage.** The study lives in an SQL database (default: SQLite in ``<out>.trials/``), so
  the same command after an interruption, even ``kill -9``, continues: finished trials
  (complete, pruned, or failed by their options: diverged, or refused by the task, such as a
  batch larger than the data) count toward ``--trials``, and a trial whose process died is
  marked failed and queued again with the same options: at once when its process ran on this
  machine, else once it has sent no heartbeat for three heartbeats.
  Several processes on one storage and study search together; one that sees the last trials
  running in others waits for them, so the study ends with ``--trials`` finished (one more
  only when two processes start a trial at the same instant).
- **The best run.** After the search the best complete trial's run directory is copied into
  ``--out``: a normal run directory that ``rnnkit evaluate``, ``generate``... take, whose
  config.json's ``tuning`` section names the study, the trial and its values.

Optuna is an optional extra (``pip install 'rnnkit[tune]'``), imported when a search starts.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import socket
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnkit.errors import UserError, require_extra
from rnnkit.tasks import lifecycle
from rnnkit.tasks.lifecycle import Run, Task
from rnnkit.tasks.options import TaskOptions
from rnnkit.tasks.search_space import SearchSpace, searched, starting_point, suggest
from rnnkit.tasks.tuning_study import (
    ERROR_ATTR,
    HOST_ATTR,
    MONITOR_ATTR,
    PID_ATTR,
    RUN_DIR_ATTR,
    STOPPED_ATTR,
    TASK_ATTR,
    best_trial,
    fail_dead_trials,
    open_storage,
    trial_counts,
)
from rnnkit.training import CONFIG_FILE, TrainingDiverged, ValidationReport, seed_everything
from rnnkit.training.atomic import atomic_write_text

PRUNERS = ("median", "hyperband", "none")


@dataclass
class TuneSettings:
    """How to search: how many trials, where the study lives, how trials are stopped.

    ``storage`` is a database URL for Optuna's RDB storage (``sqlite:///tune.db``); None keeps
    the study in ``<out>.trials/study.db``. ``study`` names the study (default: ``--out``'s
    name). ``pruner`` is ``median``, ``hyperband``, ``none`` or an Optuna pruner object.
    ``heartbeat_seconds``: how often a running trial says it is alive; a trial silent for three
    heartbeats is taken for dead (failed, and queued again).
    """

    trials: int
    space: SearchSpace
    storage: str | None = None
    study: str | None = None
    pruner: Any = "median"
    time_per_trial: float | None = None
    heartbeat_seconds: int = 20

    def validate(self) -> TuneSettings:
        if not isinstance(self.trials, int) or self.trials < 1:
            raise UserError(f"--trials must be a whole number >= 1, got {self.trials!r}.")
        if isinstance(self.pruner, str) and self.pruner not in PRUNERS:
            raise UserError(
                f"--pruner {self.pruner!r} is not known; use one of {', '.join(PRUNERS)}."
            )
        if not searched(self.space):
            raise UserError("the search space has no option left to search; widen --space.")
        return self


@dataclass
class TuneResult:
    """How a search ended: its study, the trials finished, and the best one (copied to ``out``)."""

    study: str
    storage: str
    finished: int
    best_trial: int
    best_value: float
    best_params: dict[str, Any]
    monitor: str
    out: Path


def trials_folder(out: Path) -> Path:
    """Where the trials of a search into ``out`` keep their run directories."""
    return out.with_name(out.name + ".trials")


def default_storage(out: Path) -> str:
    """The SQLite storage of a search into ``out`` when no ``--storage`` is given."""
    return f"sqlite:///{(trials_folder(out) / 'study.db').resolve()}"


# ------------------------------------------------------------------------------------ search


def tune(
    task: Task,
    options: TaskOptions,
    settings: TuneSettings,
    *,
    log: Callable[[str], None] | None = None,
) -> TuneResult:
    """Search ``settings.space`` over ``options`` until the study holds ``settings.trials``
    finished trials, then copy the best trial's run into ``options.out``; see the module doc.

    Every check of the user's input (options, space, ``--out``, storage URL, the data itself)
    runs before the study or any directory is written.
    """
    log = log or _to_stderr
    optuna = require_extra("optuna", "tune", "rnnkit tune")
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # each trial's end is told by ``log``
    settings.validate()
    if options.resume:
        raise UserError("rnnkit tune resumes through its --storage; drop --resume.")
    options = options.validate().for_tuning()
    out = Path(options.out)
    study_name = settings.study or out.name
    _require_free_out(out, study_name)
    seed_everything(options.seed)
    objective = task.prepare(options, None).objective  # reads and checks the data
    folder = trials_folder(out)
    if settings.storage is None:
        folder.mkdir(parents=True, exist_ok=True)
    storage_url = settings.storage or default_storage(out)
    storage = open_storage(storage_url, heartbeat_seconds=settings.heartbeat_seconds)
    study = _load_or_create_study(optuna, storage, study_name, task.name, objective)
    monitor = study.user_attrs.get(MONITOR_ATTR, objective.monitor)
    if not study.trials:  # a new study starts from the base options' values
        study.enqueue_trial(starting_point(settings.space, options), skip_if_exists=True)
    study.pruner = make_pruner(optuna, settings.pruner)
    run_trial = _TrialObjective(task, options, settings, folder, monitor, optuna, log)

    waiting_said = False
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            fail_dead_trials(study)  # trials of dead processes: queued again
        done, running = trial_counts(study)
        if done >= settings.trials:
            break
        if done + running >= settings.trials:  # the last ones run in other processes
            if not waiting_said:
                log(f"tuning {task.name}: waiting for {running} trials of other processes")
                waiting_said = True
            time.sleep(1.0)
            continue
        log(f"tuning {task.name}: {done} of {settings.trials} trials finished")
        study.sampler = make_sampler(optuna, options.seed + len(study.trials), settings.trials)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.optimize(run_trial, n_trials=1, catch=(TrialFailed,), gc_after_trial=False)
    best = best_trial(study)
    keep_best_run(best, out, study_name, monitor)
    log(
        f"best of {trial_counts(study)[0]} trials: trial {best.number}, "
        f"{monitor} {best.value:.6g}; its run copied to {out}"
    )
    return TuneResult(
        study=study_name,
        storage=storage_url,
        finished=trial_counts(study)[0],
        best_trial=best.number,
        best_value=float(best.value),
        best_params=dict(best.params),
        monitor=monitor,
        out=out,
    )


class TrialFailed(Exception):
    """A trial's options failed it (diverged, or refused by the task): the search goes on."""


class _TrialObjective:
    """One trial: draw the options, train a run with them, report validations to the pruner."""

    def __init__(
        self,
        task: Task,
        options: TaskOptions,
        settings: TuneSettings,
        folder: Path,
        monitor: str,
        optuna: Any,
        log: Callable[[str], None],
    ) -> None:
        self.task, self.options, self.settings = task, options, settings
        self.folder, self.monitor, self.optuna, self.log = folder, monitor, optuna, log

    def __call__(self, trial: Any) -> float:
        values = suggest(self.settings.space, trial)
        run_dir = (self.folder / f"trial-{trial.number:04d}").resolve()
        trial.set_user_attr(RUN_DIR_ATTR, str(run_dir))
        trial.set_user_attr(HOST_ATTR, socket.gethostname())
        trial.set_user_attr(PID_ATTR, os.getpid())
        budget = {}
        if self.settings.time_per_trial is not None:
            budget["time_limit"] = self.settings.time_per_trial
        options = dataclasses.replace(self.options, **values, **budget, out=run_dir, resume=False)
        shown = ", ".join(f"{name}={_short(value)}" for name, value in trial.params.items())
        self.log(f"trial {trial.number}: {shown}")
        if run_dir.exists():  # left by a process that died before its trial was recorded
            shutil.rmtree(run_dir)
        try:
            lifecycle.train(self.task, options, on_validation=self._hook(trial))
        except UserError as error:  # of these options: training diverged, or the task refused
            stopped = "diverged" if isinstance(error, TrainingDiverged) else "refused"
            trial.set_user_attr(STOPPED_ATTR, stopped)
            trial.set_user_attr(ERROR_ATTR, str(error))
            self.log(f"trial {trial.number} {stopped}: {error}")
            raise TrialFailed(str(error)) from None
        results = Run.open(run_dir, self.task.name).config.get("results", {})
        if results.get("stop_reason") == "interrupted":
            raise UserError(
                f"tuning stopped at trial {trial.number} by Ctrl-C; run the same command again "
                "to continue the study."
            )
        value = results.get("metrics", {}).get(self.monitor)
        if results.get("stop_reason") == "pruned":
            self.log(f"trial {trial.number} pruned")
            raise self.optuna.TrialPruned()
        if value is None or not math.isfinite(value):
            raise UserError(
                f"trial {trial.number} ({run_dir}) has no validation {self.monitor}; "
                "give the task validation data to tune on."
            )
        self.log(f"trial {trial.number}: {self.monitor} {value:.6g}")
        return float(value)

    def _hook(self, trial: Any) -> Callable[[ValidationReport], str | None]:
        """The trainer's validation hook: report the n-th validation as step n, and stop the
        run ("pruned") when the pruner says so."""
        count = 0

        def on_validation(report: ValidationReport) -> str | None:
            nonlocal count
            count += 1
            if not math.isfinite(report.value):
                return None
            trial.report(report.value, count)
            return "pruned" if trial.should_prune() else None

        return on_validation


# ------------------------------------------------------------------------------------ optuna


def make_sampler(optuna: Any, seed: int, trials: int) -> Any:
    """TPE, after a few random trials (half the trials, 3 to 10, the first one included)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        startup = max(3, min(10, trials // 2))
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, constant_liar=True)


def make_pruner(optuna: Any, pruner: Any) -> Any:
    """The pruner named ``median``, ``hyperband`` or ``none``; an Optuna pruner as it is.

    The median pruner waits for three complete trials and stops no trial before its fourth
    validation (small validation sets are noisy, and slow starters are not bad ones);
    Hyperband's budget is the validations of the first complete trial."""
    if not isinstance(pruner, str):
        return pruner
    if pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=4)
    if pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, reduction_factor=3)
    return optuna.pruners.NopPruner()


def _load_or_create_study(optuna: Any, storage: Any, name: str, task: str, objective: Any) -> Any:
    """The study ``name`` in ``storage``, created if new to follow the task's monitored metric
    (``objective.monitor``) in its direction; an existing one must tune ``task``."""
    direction = "maximize" if objective.mode == "max" else "minimize"
    study = optuna.create_study(
        storage=storage, study_name=name, direction=direction, load_if_exists=True
    )
    tuned = study.user_attrs.get(TASK_ATTR)
    if tuned is None:  # new (or just made by a process that has not labelled it yet)
        study.set_user_attr(TASK_ATTR, task)
        study.set_user_attr(MONITOR_ATTR, objective.monitor)
    elif tuned != task:
        raise UserError(
            f"the study {name!r} in the storage tunes {tuned!r}, not {task!r}; choose another "
            "--study."
        )
    return study


def _require_free_out(out: Path, study: str) -> None:
    """``--out`` must be new, empty, or hold this study's best run (which is then replaced)."""
    if not out.exists():
        return
    if out.is_dir() and not any(out.iterdir()):
        return
    tuning = _tuning_section(out)
    if tuning is None or tuning.get("study") != study:
        raise UserError(
            f"{out} already holds files that are not the best run of the study {study!r}; "
            "choose another --out."
        )


def _tuning_section(run_dir: Path) -> dict[str, Any] | None:
    try:
        config = json.loads((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    section = config.get("tuning") if isinstance(config, dict) else None
    return section if isinstance(section, dict) else None


def keep_best_run(trial: Any, out: Path, study: str, monitor: str) -> None:
    """Copy ``trial``'s run directory into ``out`` (replacing an earlier best of the study),
    with its config.json's ``out`` option set to ``out`` and a ``tuning`` section added."""
    tuning = {
        "study": study,
        "trial": trial.number,
        "monitor": monitor,
        "value": trial.value,
        "params": dict(trial.params),
    }
    current = _tuning_section(out) if out.exists() else None
    if current is not None and current.get("trial") == trial.number:
        return  # this process or another already copied it
    source = Path(trial.user_attrs[RUN_DIR_ATTR])
    if not (source / CONFIG_FILE).is_file():
        raise UserError(f"the best trial's run directory {source} is gone; tune again.")
    staging = out.with_name(f".{out.name}.{os.getpid()}.new")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    config = json.loads((staging / CONFIG_FILE).read_text(encoding="utf-8"))
    config["options"]["out"] = str(out)
    config["tuning"] = tuning
    atomic_write_text(staging / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
    old = out.with_name(f".{out.name}.{os.getpid()}.old")
    try:
        if out.exists():
            out.rename(old)
        staging.rename(out)
    except OSError:  # another process of the study swapped its copy in at the same moment
        shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)


# ------------------------------------------------------------------------------------ helpers


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
