"""The study of ``rnnkit tune`` in its storage: opening it, the trials' states, reading it back.

``rnnkit.tasks.tuning`` runs the search; this module is what it and ``rnnkit tune --show`` share
about the study that a database holds: ``open_storage`` (Optuna's RDB storage, heartbeats on),
``fail_dead_trials`` (running trials whose process died: failed and queued again),
``trial_counts`` and ``best_trial``, ``load_study``, ``trial_rows`` and ``importances`` (the
table and plots of ``--show``), and the names of the attributes rnnkit keeps on studies and
trials. Optuna is imported through ``require_extra`` when a function needs it.
"""

from __future__ import annotations

import os
import socket
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rnnkit.errors import UserError, require_extra

#: the user attributes a study keeps: the task, and the metric its values are
TASK_ATTR, MONITOR_ATTR = "rnnkit_task", "rnnkit_monitor"
#: the user attributes a trial keeps: its run directory; why its options failed ("diverged",
#: "refused": the task refused them, e.g. a batch larger than the data) and the sentence saying so
RUN_DIR_ATTR, STOPPED_ATTR, ERROR_ATTR = "run_dir", "stopped", "error"
#: ... and the machine and process running it, so that a process that died is seen at once
HOST_ATTR, PID_ATTR = "host", "pid"
#: the ways a trial's own options can fail it (it still counts toward --trials)
OPTIONS_FAILED = ("diverged", "refused")
#: how often a trial whose process died is run again
MAX_RETRIES = 3


def open_storage(url: str, *, heartbeat_seconds: int = 20, must_exist: bool = False) -> Any:
    """Optuna's RDB storage at ``url`` (heartbeats on, a dead trial retried up to 3 times);
    ``UserError`` naming the URL when it cannot be opened. With ``must_exist`` an SQLite file
    that does not exist is refused rather than created."""
    optuna = require_extra("optuna", "tune", "rnnkit tune")
    import sqlalchemy  # optuna's own dependency

    path = sqlite_path(url)
    if must_exist and path is not None and path != ":memory:" and not Path(path).is_file():
        raise UserError(f"--storage {url}: the file {path} does not exist; check the URL.")
    engine = {"connect_args": {"timeout": 60}} if path is not None else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)
    for attempt in range(3):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=engine,
                    heartbeat_interval=heartbeat_seconds,
                    grace_period=3 * heartbeat_seconds,
                    heartbeat_stale_trial_callback=retry,
                )
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError) as error:
            # processes opening a new database together race to create its tables and rows
            if attempt == 2:
                raise _storage_error(url, error) from None
            time.sleep(0.2 * (attempt + 1))
        except (sqlalchemy.exc.SQLAlchemyError, ValueError, ImportError) as error:
            raise _storage_error(url, error) from None
    raise AssertionError("unreachable")


def _storage_error(url: str, error: Exception) -> UserError:
    cause = getattr(error, "orig", None) or error  # the driver's own words, when it spoke
    reason = str(cause).splitlines()[0].rstrip(".") if str(cause) else type(cause).__name__
    return UserError(
        f"--storage {url!r} cannot be opened as a database ({reason}); give a URL such as "
        "sqlite:///tune.db."
    )


def fail_dead_trials(study: Any) -> None:
    """Mark failed, and queue again with the same options, the running trials whose process
    died: on this machine, a process that no longer exists (seen at once, after ``kill -9``);
    elsewhere, one silent for three heartbeats (Optuna's ``fail_stale_trials``)."""
    optuna = require_extra("optuna", "tune", "rnnkit tune")
    from optuna.trial import TrialState

    optuna.storages.fail_stale_trials(study)
    host = socket.gethostname()
    retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = trial.user_attrs.get(PID_ATTR)
        if trial.user_attrs.get(HOST_ATTR) != host or pid is None or _process_exists(pid):
            continue
        try:
            study.tell(trial.number, state=TrialState.FAIL)
        except (ValueError, RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
            continue  # another process failed it first, and queued it again
        retry(study, study.get_trials(deepcopy=False)[trial.number])


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def sqlite_path(url: str) -> str | None:
    """The file of an ``sqlite:///FILE`` URL (``:memory:`` for an in-memory one), else None."""
    if not url.startswith("sqlite://"):
        return None
    rest = url[len("sqlite://") :]
    return rest[1:] if rest.startswith("/") and rest[1:] else ":memory:"


def trial_counts(study: Any) -> tuple[int, int]:
    """(finished, running) trials of the study, read at one moment. Finished trials count
    toward ``--trials``: complete, pruned, or failed by their options; running ones are in this
    process or others (a dead process's are failed first, ``fail_dead_trials``)."""
    from optuna.trial import TrialState

    finished = running = 0
    for trial in study.get_trials(deepcopy=False):
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
            trial.state == TrialState.FAIL and trial.user_attrs.get(STOPPED_ATTR) in OPTIONS_FAILED
        ):
            finished += 1
        elif trial.state == TrialState.RUNNING:
            running += 1
    return finished, running


def best_trial(study: Any) -> Any:
    """The study's best complete trial; ``UserError`` when none is complete."""
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        errors = [t.user_attrs[ERROR_ATTR] for t in study.trials if ERROR_ATTR in t.user_attrs]
        why = f"; the last failure: {errors[-1].rstrip('.')}" if errors else ""
        raise UserError(
            f"no trial of the study {study.study_name!r} completed (all were pruned or failed"
            f"{why}); run more trials, with a looser --pruner or a narrower --space."
        )
    return study.best_trial


# ------------------------------------------------------------------------------------ the best run


def trial_rows(study: Any) -> list[dict[str, Any]]:
    """One row per trial: number, state, value, seconds, why it stopped, its options."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        seconds = None
        if trial.datetime_start is not None and trial.datetime_complete is not None:
            seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
        rows.append(
            {
                "number": trial.number,
                "state": trial.state.name.lower(),
                "value": trial.value,
                "seconds": seconds,
                "validations": len(trial.intermediate_values),
                "stopped": trial.user_attrs.get(STOPPED_ATTR),
                "params": dict(trial.params),
                "run_dir": trial.user_attrs.get(RUN_DIR_ATTR),
            }
        )
    return rows


def study_names(storage: Any) -> list[str]:
    """The names of the studies in ``storage``."""
    optuna = require_extra("optuna", "tune", "rnnkit tune")
    return list(optuna.study.get_all_study_names(storage))


def load_study(storage_url: str, name: str | None) -> Any:
    """The study ``name`` of an existing storage (the only one when ``name`` is None)."""
    optuna = require_extra("optuna", "tune", "rnnkit tune")
    storage = open_storage(storage_url, must_exist=True)
    names = study_names(storage)
    if name is None:
        if len(names) != 1:
            listed = ", ".join(names) if names else "none"
            raise UserError(
                f"--storage {storage_url} holds {len(names)} studies ({listed}); name one with "
                "--study."
            )
        name = names[0]
    if name not in names:
        raise UserError(f"--storage {storage_url} holds no study {name!r}; check --study.")
    return optuna.load_study(study_name=name, storage=storage)


def importances(study: Any) -> Mapping[str, float]:
    """How much each option explained of the complete trials' values (Optuna's PED-ANOVA
    evaluator, which needs no further package); empty when fewer than two trials completed."""
    optuna = require_extra("optuna", "tune", "rnnkit tune")
    from optuna.trial import TrialState

    if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < 2:
        return {}
    evaluator = optuna.importance.PedAnovaImportanceEvaluator()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "importances will be equal" on few trials
            return optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (ValueError, RuntimeError):  # a single distinct value, or no varying option
        return {}
