"""``rnnkit tune``: the command end to end on tiny data, ``--show``, and refusals of bad input.

The search itself (storage, pruning, resuming) is tested in ``tests/tasks/test_tuning.py``;
here: the task's flags fix options and leave the search, ``--space`` changes it, the best run
serves ``rnnkit evaluate``, ``--show`` tables the trials and draws the plots, and every bad input
is one sentence with exit code 2 and nothing written.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import traceback
from pathlib import Path

import pandas as pd
import pytest
from conftest import assert_user_error, rnnkit
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.tasks import lifecycle

optuna = pytest.importorskip("optuna")

#: a classifier small enough that a trial takes about a second
TINY = [
    "--hidden", "8", "--embedding-size", "8", "--epochs", "2", "--batch-size", "8",
    "--progress", "off", "--device", "cpu",
]  # fmt: skip


@pytest.fixture
def reviews(tmp_path):
    rows = [("a good film", "pos"), ("a bad film", "neg")] * 15
    path = tmp_path / "reviews.csv"
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(path, index=False)
    return path


def test_tune_then_show_then_evaluate_the_best_run(reviews, tmp_path):
    space = tmp_path / "space.toml"
    space.write_text('lr = { low = 1e-3, high = 1e-2, log = true }\ncell = ["gru"]\n')
    out, plots = tmp_path / "best", tmp_path / "plots"
    storage = f"sqlite:///{tmp_path}/tune.db"
    result = rnnkit(
        "tune", "classify", "--data", reviews, "--out", out, "--trials", "2",
        "--storage", storage, "--space", space, *TINY,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"best run: {out}" in result.stdout
    trials = optuna.load_study(study_name="best", storage=storage).get_trials()
    assert len(trials) == 2
    for trial in trials:
        # typed flags are fixed, not searched; the space file narrowed lr and fixed the cell
        assert not {"hidden", "embedding_size", "batch_size"} & set(trial.params)
        assert 1e-3 <= trial.params["lr"] <= 1e-2 and trial.params["cell"] == "gru"
        assert {"dropout", "pooling", "layers"} <= set(trial.params)  # the task's own space
        options = json.loads((tmp_path / "best.trials" / f"trial-{trial.number:04d}" /
                              "config.json").read_text())["options"]  # fmt: skip
        assert options["hidden"] == 8 and options["cell"] == "gru"

    shown = rnnkit("tune", "--show", "--storage", storage, "--plots", plots)
    assert shown.exit_code == 0, shown.output
    table = shown.stdout.splitlines()
    assert table[0].split()[:3] == ["trial", "state", "accuracy"]
    assert [line.split()[0] for line in table[1:3]] == ["0", "1"]
    assert (plots / "best-history.png").stat().st_size > 0
    evaluated = rnnkit("evaluate", out, "--data", reviews, "--json")
    assert evaluated.exit_code == 0, evaluated.output
    assert 0.0 <= json.loads(evaluated.stdout)["accuracy"] <= 1.0


def test_an_unknown_option_in_the_space_file_is_one_sentence(reviews, tmp_path):
    space = tmp_path / "space.toml"
    space.write_text("hiden = [16, 64]\n")
    out = tmp_path / "best"
    result = rnnkit(
        "tune", "classify", "--data", reviews, "--out", out, "--trials", "2", "--space", space
    )
    assert_user_error(result, str(space), "'hiden'", "did you mean 'hidden'")
    assert not out.exists() and not (tmp_path / "best.trials").exists()


def test_a_value_the_task_refuses_in_the_space_file_is_one_sentence(reviews, tmp_path):
    space = tmp_path / "space.toml"
    space.write_text("dropout = [0.0, 1.5]\n")
    result = rnnkit(
        "tune", "classify", "--data", reviews, "--out", tmp_path / "b", "--trials", "1",
        "--space", space,
    )  # fmt: skip
    assert_user_error(result, str(space), "dropout", "1.5")


@pytest.mark.parametrize("url", ["nosuchdb://x/y", "not a url", "sqlite:///no/such/folder/t.db"])
def test_a_bad_storage_url_is_one_sentence(reviews, tmp_path, url):
    out = tmp_path / "best"
    result = rnnkit(
        "tune", "classify", "--data", reviews, "--out", out, "--trials", "1", "--storage", url
    )
    assert_user_error(result, "--storage", "sqlite:///tune.db")
    assert not out.exists()


def test_an_unknown_task_is_one_sentence():
    assert_user_error(rnnkit("tune", "nosuch", "--trials", "1"), "'nosuch'", "classify")


def test_show_of_a_missing_storage_file_is_one_sentence(tmp_path):
    missing = tmp_path / "none.db"
    assert_user_error(rnnkit("tune", "--show", "--storage", f"sqlite:///{missing}"), str(missing))
    assert not missing.exists()


def test_an_out_holding_another_run_is_refused_before_any_trial(reviews, tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = rnnkit("tune", "classify", "--data", reviews, "--out", out, "--trials", "1")
    assert_user_error(result, str(out), "choose another --out")
    assert not (tmp_path / "taken.trials").exists()


def _tune_until_stopped(argv: list[str]) -> None:
    """Run ``rnnkit tune`` (in a forked child) and stop the process at the first validation of
    its first trial, so that the parent can kill it there, mid-trial."""
    train = lifecycle.train

    def train_then_stop(task, options, *, on_validation=None):
        return train(
            task, options, on_validation=lambda report: os.kill(os.getpid(), signal.SIGSTOP)
        )

    lifecycle.train = train_then_stop
    result = CliRunner().invoke(app, argv)
    os._exit(result.exit_code)


def test_kill_9_mid_trial_then_the_same_command_finishes_the_study(reviews, tmp_path):
    out = tmp_path / "best"
    argv = [str(a) for a in ("tune", "classify", "--data", reviews, "--out", out, "--trials", "2",
                             "--pruner", "none", *TINY)]  # fmt: skip
    child = multiprocessing.get_context("fork").Process(target=_tune_until_stopped, args=(argv,))
    child.start()
    _, status = os.waitpid(child.pid, os.WUNTRACED)  # returns once the child has stopped
    assert os.WIFSTOPPED(status), status
    os.kill(child.pid, signal.SIGKILL)
    child.join(timeout=30)
    storage = f"sqlite:///{tmp_path}/best.trials/study.db"
    trials = optuna.load_study(study_name="best", storage=storage).get_trials()
    assert [t.state.name for t in trials] == ["RUNNING"] and not out.exists()

    result = rnnkit(*argv)  # the same command again
    assert result.exit_code == 0, result.output
    trials = optuna.load_study(study_name="best", storage=storage).get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert trials[1].system_attrs["failed_trial"] == 0  # the killed trial, run again
    assert trials[1].params == trials[0].params
    assert (out / "model.safetensors").is_file()


def _tune(argv: list[str], log: Path) -> None:
    """One tune process: its output and any exception go to ``log`` for the failure message."""
    result = CliRunner().invoke(app, argv)
    error = result.exc_info and "".join(traceback.format_exception(*result.exc_info))
    log.write_text(f"{result.output}\n{error or ''}", encoding="utf-8")
    os._exit(result.exit_code)


def test_two_processes_on_one_storage_share_the_study_and_its_count(reviews, tmp_path):
    out = tmp_path / "best"
    storage = f"sqlite:///{tmp_path}/shared.db"
    argv = [str(a) for a in ("tune", "classify", "--data", reviews, "--out", out, "--trials", "3",
                             "--storage", storage, "--study", "shared", *TINY)]  # fmt: skip
    fork = multiprocessing.get_context("fork")
    logs = [tmp_path / f"worker{k}.log" for k in range(2)]
    workers = [fork.Process(target=_tune, args=(argv, log)) for log in logs]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    said = [log.read_text() if log.is_file() else "(no log)" for log in logs]
    assert [worker.exitcode for worker in workers] == [0, 0], said
    trials = optuna.load_study(study_name="shared", storage=storage).get_trials()
    # 3 in all, not 3 each (a 4th only if both began one at the same instant)
    assert {t.state.name for t in trials} == {"COMPLETE"} and len(trials) in (3, 4)
    assert {t.user_attrs["pid"] for t in trials} == {w.pid for w in workers}  # both worked
    best = max(trials, key=lambda t: t.value)
    assert json.loads((out / "config.json").read_text())["tuning"]["trial"] == best.number
