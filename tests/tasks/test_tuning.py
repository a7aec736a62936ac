"""``rnnkit.tasks.tuning``: trials in the storage, pruning from the trainer, resuming, best run.

Each search runs two or three trials of a tiny classifier on a tiny file; the storage (read
with Optuna's own API), the trials' run directories (their config.json and metrics.csv, written
by the trainer) and evaluating the runs are the oracles.
"""

from __future__ import annotations

import csv
import filecmp
import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

optuna = pytest.importorskip("optuna")

from rnnkit.errors import UserError  # noqa: E402
from rnnkit.tasks import classify  # noqa: E402
from rnnkit.tasks.search_space import Choice, FloatRange, suggest  # noqa: E402
from rnnkit.tasks.tuning import TuneSettings, tune  # noqa: E402
from rnnkit.tasks.tuning_study import open_storage  # noqa: E402

TrialState = optuna.trial.TrialState

#: searched: two dimensions that keep each trial under a second
SPACE = {"lr": FloatRange(1e-3, 1e-2, log=True), "pooling": Choice(("mean", "max"))}


@pytest.fixture
def reviews(tmp_path) -> Path:
    words = {"pos": ["good", "fine", "great"], "neg": ["bad", "dull", "poor"]}
    rows = [(f"a {words[label][i % 3]} film", label) for i in range(15) for label in words]
    path = tmp_path / "reviews.csv"
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(path, index=False)
    return path


def base_options(data: Path, out: Path, **changes) -> classify.ClassifyOptions:
    tiny = dict(hidden=8, embedding_size=8, epochs=3, batch_size=8, progress="off", device="cpu")
    return classify.ClassifyOptions(data=data, out=out, **{**tiny, **changes})


def quiet(_: str) -> None:
    pass


def stored(out: Path):
    return optuna.load_study(study_name=out.name, storage=f"sqlite:///{out}.trials/study.db")


def validation_rows(run_dir: Path) -> list[float]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        return [float(r["val_accuracy"]) for r in csv.DictReader(handle) if r.get("val_accuracy")]


def test_two_trials_are_stored_and_the_best_one_becomes_a_normal_run(reviews, tmp_path):
    out = tmp_path / "best"
    result = tune(
        classify.TASK_SPEC,
        base_options(reviews, out),
        TuneSettings(trials=2, space=SPACE, pruner="none"),
        log=quiet,
    )
    study = stored(out)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    # the first trial trains the base options' values where the space holds them (lr 2e-3;
    # pooling "attention" is outside it, so drawn)
    assert trials[0].params["lr"] == base_options(reviews, out).lr == 2e-3
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    for trial in trials:
        run_dir = Path(trial.user_attrs["run_dir"])
        config = json.loads((run_dir / "config.json").read_text())
        # the run was trained with the drawn values over the base options
        assert config["options"]["lr"] == trial.params["lr"]
        assert config["options"]["pooling"] == trial.params["pooling"]
        assert config["options"]["hidden"] == 8 and config["options"]["epochs"] == 3
        # the trial's value is the kept weights' validation accuracy, the best of metrics.csv
        assert trial.value == config["results"]["metrics"]["accuracy"]
        assert trial.value == max(validation_rows(run_dir))
        assert list(trial.intermediate_values.values()) == validation_rows(run_dir)
    best = max(trials, key=lambda t: t.value)
    assert result.best_trial == best.number and result.finished == 2
    # --out is the best trial's run: same weights, its own out, the tuning section
    best_dir = Path(best.user_attrs["run_dir"])
    assert filecmp.cmp(out / "model.safetensors", best_dir / "model.safetensors", shallow=False)
    config = json.loads((out / "config.json").read_text())
    assert config["options"]["out"] == str(out)
    assert config["tuning"]["trial"] == best.number and config["tuning"]["params"] == best.params
    assert classify.evaluate(out, reviews) == classify.evaluate(best_dir, reviews)


class PruneTheSecondTrialAtItsSecondValidation(optuna.pruners.BasePruner):
    def prune(self, study, trial) -> bool:
        return trial.number == 1 and trial.last_step >= 2


def test_a_pruned_trial_stops_its_run_cleanly_at_the_pruners_word(reviews, tmp_path):
    out = tmp_path / "best"
    settings = TuneSettings(
        trials=2, space=SPACE, pruner=PruneTheSecondTrialAtItsSecondValidation()
    )
    result = tune(classify.TASK_SPEC, base_options(reviews, out), settings, log=quiet)
    first, second = stored(out).get_trials()
    assert (first.state, second.state) == (TrialState.COMPLETE, TrialState.PRUNED)
    assert result.best_trial == 0 and result.finished == 2
    # the pruned run stopped after 2 of its 3 epochs, yet is complete: results, kept weights
    run_dir = Path(second.user_attrs["run_dir"])
    results = json.loads((run_dir / "config.json").read_text())["results"]
    assert results["stop_reason"] == "pruned" and results["epoch"] == 2
    assert list(second.intermediate_values) == [1, 2]
    assert list(second.intermediate_values.values()) == validation_rows(run_dir)
    assert (run_dir / "model.safetensors").is_file()
    assert "accuracy" in classify.evaluate(run_dir, reviews)


def test_with_every_trial_pruned_there_is_no_best_run(reviews, tmp_path):
    out = tmp_path / "best"
    impossible = optuna.pruners.ThresholdPruner(lower=2.0)  # accuracy never reaches 2
    settings = TuneSettings(trials=2, space=SPACE, pruner=impossible)
    with pytest.raises(UserError, match="no trial of the study 'best' completed"):
        tune(classify.TASK_SPEC, base_options(reviews, out), settings, log=quiet)
    trials = stored(out).get_trials()
    assert [t.state for t in trials] == [TrialState.PRUNED] * 2
    assert all(list(t.intermediate_values) == [1] for t in trials)  # pruned at the first
    assert not out.exists()


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")  # our study.ask() below
def test_a_trial_left_running_by_a_dead_process_is_failed_and_run_again(reviews, tmp_path):
    out = tmp_path / "best"
    options = base_options(reviews, out, epochs=1)
    tune(classify.TASK_SPEC, options, TuneSettings(trials=1, space=SPACE), log=quiet)
    # a process that drew trial 1, beat once an hour ago, and died (kill -9) mid-trial
    url = f"sqlite:///{out}.trials/study.db"
    study = optuna.load_study(study_name="best", storage=open_storage(url, heartbeat_seconds=1))
    dead = study.ask()
    drawn = suggest(SPACE, dead)
    study._storage.record_heartbeat(dead._trial_id)
    with sqlite3.connect(f"{out}.trials/study.db") as db:
        db.execute("UPDATE trial_heartbeats SET heartbeat = datetime('now', '-1 hour')")
    assert stored(out).get_trials()[1].state == TrialState.RUNNING

    settings = TuneSettings(trials=3, space=SPACE, heartbeat_seconds=1)
    result = tune(classify.TASK_SPEC, options, settings, log=quiet)
    trials = stored(out).get_trials()
    states = [t.state for t in trials]
    assert states == [
        TrialState.COMPLETE,
        TrialState.FAIL,
        TrialState.COMPLETE,
        TrialState.COMPLETE,
    ]
    assert trials[2].params == drawn  # the dead trial, run again with its options
    assert result.finished == 3


def test_a_study_of_another_task_is_refused_before_any_trial(reviews, tmp_path):
    out = tmp_path / "best"
    storage = open_storage(f"sqlite:///{tmp_path}/tune.db")
    study = optuna.create_study(storage=storage, study_name="shared")
    study.set_user_attr("rnnkit_task", "lm")
    settings = TuneSettings(trials=1, space=SPACE, storage=f"sqlite:///{tmp_path}/tune.db")
    settings.study = "shared"
    with pytest.raises(UserError, match="tunes 'lm', not 'classify'"):
        tune(classify.TASK_SPEC, base_options(reviews, out), settings, log=quiet)
    assert study.get_trials() == [] and not out.exists()


def test_trials_whose_options_the_task_refuses_fail_count_and_say_why(tmp_path):
    from rnnkit.tasks import lm

    text = tmp_path / "text.txt"
    text.write_text("the cat sat on the mat.\n" * 40, encoding="utf-8")  # 960 characters
    out = tmp_path / "best"
    options = lm.LMOptions(
        data=text, out=out, hidden=8, bptt=8, batch_size=4, max_steps=2, progress="off"
    )
    space = {"batch_size": Choice((512,)), "lr": FloatRange(1e-3, 1e-2)}  # 512 x 8 > 960
    with pytest.raises(UserError, match="the last failure: .*too few for one batch of 512"):
        tune(lm.TASK_SPEC, options, TuneSettings(trials=2, space=space), log=quiet)
    trials = stored(out).get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL] * 2  # two, then the search stopped
    assert [t.user_attrs["stopped"] for t in trials] == ["refused"] * 2
