"""``classify --ensemble K`` (members trained one by one, each as the run of its own seed) and
``classify --refit`` (epochs chosen on the hold-out, then every example learnt), checked against
separately trained runs and against what the final model's training saw."""

from __future__ import annotations

import csv
import dataclasses

import pytest
import torch
from safetensors.torch import load_file
from test_classify import FAST, invoke, sentiment_rows, write_csv

from rnnkit.data.labelled import stratified_split
from rnnkit.errors import UserError
from rnnkit.tasks import classify, classify_members
from rnnkit.training import trainer as trainer_module
from rnnkit.training.trainer import Trainer

TEST_TEXTS = [text for text, _ in sentiment_rows(40, seed=9)]


def probabilities(run_dir) -> torch.Tensor:
    """``(N, K)`` class probabilities of ``TEST_TEXTS`` by the run in ``run_dir``."""
    run = classify.load_run(run_dir)
    predictions = classify.predict_texts(run, TEST_TEXTS)
    return torch.tensor([[p.probabilities[name] for name in run.class_names] for p in predictions])


def test_an_ensembles_probabilities_are_the_mean_of_runs_trained_alone_with_each_seed(tmp_path):
    train = write_csv(tmp_path / "train.csv", sentiment_rows(96, seed=5))
    val = write_csv(tmp_path / "val.csv", sentiment_rows(24, seed=6))
    common = dict(data=train, val=val, epochs=2, **FAST)
    ensemble = classify.train(
        classify.ClassifyOptions(out=tmp_path / "ensemble", ensemble=3, seed=4, **common)
    )
    alone = [
        classify.train(
            classify.ClassifyOptions(out=tmp_path / f"seed{s}", seed=s, ensemble=1, **common)
        )
        for s in (4, 5, 6)
    ]
    expected = torch.stack([probabilities(run) for run in alone]).mean(0)
    torch.testing.assert_close(probabilities(ensemble), expected)
    for i, run in enumerate(alone):  # member i holds the weights of the run with seed 4 + i
        member = load_file(ensemble / "members" / str(i) / "model.safetensors")
        for name, tensor in load_file(run / "model.safetensors").items():
            torch.testing.assert_close(member[name], tensor)


def test_without_val_each_member_holds_out_its_own_share_and_the_first_is_the_plain_run(
    tmp_path, monkeypatch
):
    rows = sentiment_rows(120, seed=7)
    train = write_csv(tmp_path / "train.csv", rows)
    common = dict(data=train, epochs=2, seed=3, **FAST)
    held_out = []  # the validation inputs of each objective that is built, in order
    original = classify.ClassificationObjective.__init__

    def spy(self, train_inputs, train_labels, val_inputs, *args, **kwargs):
        held_out.append(val_inputs)
        original(self, train_inputs, train_labels, val_inputs, *args, **kwargs)

    monkeypatch.setattr(classify.ClassificationObjective, "__init__", spy)
    ensemble = classify.train(classify.ClassifyOptions(out=tmp_path / "e", ensemble=2, **common))
    run = classify.load_run(ensemble)
    labels = [label for _, label in rows]
    for i in range(2):
        _, rows_held = stratified_split(labels, 0.1, 3 + i)
        expected = [run.encoder.encode_text(rows[r][0]) for r in rows_held]
        assert len(held_out[i]) == len(expected)
        assert all(torch.equal(a, b) for a, b in zip(held_out[i], expected, strict=True))
    assert set(stratified_split(labels, 0.1, 3)[1]) != set(stratified_split(labels, 0.1, 4)[1])

    plain = classify.train(classify.ClassifyOptions(out=tmp_path / "plain", ensemble=1, **common))
    member = load_file(ensemble / "members" / "0" / "model.safetensors")
    for name, tensor in load_file(plain / "model.safetensors").items():
        torch.testing.assert_close(member[name], tensor)
    results = run.config["results"]
    accuracies = [m["metrics"]["accuracy"] for m in results["members"]]
    assert results["metrics"]["accuracy"] == pytest.approx(sum(accuracies) / 2)
    assert (ensemble / "confusion.png").exists()  # drawn out of bag (test_out_of_bag_...)


def kept_epoch(run_dir) -> int:
    """The epoch (1-based) of the best validation accuracy in ``metrics.csv``, first if tied."""
    with open(run_dir / "metrics.csv", encoding="utf-8") as file:
        rows = [r for r in csv.DictReader(file) if r.get("val_accuracy")]
    best = max(float(r["val_accuracy"]) for r in rows)
    return next(round(float(r["epoch"])) for r in rows if float(r["val_accuracy"]) == best)


def test_refit_trains_on_every_row_for_the_epochs_the_hold_out_chose(tmp_path, monkeypatch):
    rows = sentiment_rows(100, seed=8)
    train = write_csv(tmp_path / "train.csv", rows)
    common = dict(data=train, epochs=6, seed=2, **FAST, dropout=0.5)
    plain = classify.train(classify.ClassifyOptions(out=tmp_path / "plain", ensemble=1, **common))
    seen = []  # the inputs of every batch a training without validation takes
    original = classify.ClassificationObjective.train_batches

    def spy(self, epoch, generator):
        for batch in original(self, epoch, generator):
            if self.val_inputs is None:
                seen.append((epoch, batch["inputs"], batch["lengths"]))
            yield batch

    monkeypatch.setattr(classify.ClassificationObjective, "train_batches", spy)
    refit = classify.train(classify.ClassifyOptions(out=tmp_path / "refit", refit=True, **common))
    config = classify.load_run(refit).config
    epochs = kept_epoch(plain)
    assert config["data"]["refit"]["epochs"] == epochs == kept_epoch(refit / "selection")
    assert config["data"]["train_examples"] == len(rows)
    assert {epoch for epoch, _, _ in seen} == set(range(epochs))
    run = classify.load_run(refit)
    expected = sorted(tuple(run.encoder.encode_text(text)[:, 0].tolist()) for text, _ in rows)
    for epoch in range(epochs):  # each epoch: every row once
        got = sorted(
            tuple(inputs[b, : lengths[b], 0].tolist())
            for e, inputs, lengths in seen
            if e == epoch
            for b in range(len(lengths))
        )
        assert got == expected
    assert config["results"]["metrics"] == {}  # the last weights, chosen by no validation


def test_refit_and_ensemble_options_are_checked(tmp_path):
    train = write_csv(tmp_path / "train.csv", sentiment_rows(40, seed=1))
    options = classify.ClassifyOptions(data=train, out=tmp_path / "run", refit=True)
    with pytest.raises(UserError, match="--refit and --ensemble"):
        options.__class__(**{**options.__dict__, "ensemble": 2}).validate()
    result = invoke(
        "train", "classify", "--data", train, "--val", train, "--refit", "--out", tmp_path / "cli"
    )
    assert result.exit_code == 2 and "--refit" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "cli").exists()


def test_an_ensemble_killed_before_its_config_resumes_from_its_members_checkpoints(
    tmp_path, monkeypatch
):
    train = write_csv(tmp_path / "train.csv", sentiment_rows(60, seed=3))
    options = classify.ClassifyOptions(
        data=train, out=tmp_path / "run", epochs=1, ensemble=2, seed=0, **FAST
    )
    run_dir = classify.train(options)
    weights = load_file(run_dir / "model.safetensors")
    logs = [(run_dir / "members" / str(i) / "metrics.csv").read_text() for i in range(2)]
    (run_dir / "config.json").unlink()  # as if killed after the members, before the config
    (run_dir / "model.safetensors").unlink()
    steps = []
    monkeypatch.setattr(Trainer, "_train_step", lambda self, batch: steps.append(batch))
    classify.train(dataclasses.replace(options, resume=True))
    assert steps == []  # both members were finished: nothing trained again
    for name, tensor in load_file(run_dir / "model.safetensors").items():
        torch.testing.assert_close(tensor, weights[name])
    assert [(run_dir / "members" / str(i) / "metrics.csv").read_text() for i in range(2)] == logs


class Constant(torch.nn.Module):
    """A stand-in member whose every prediction is ``probabilities``."""

    def __init__(self, probabilities: list[float]) -> None:
        super().__init__()
        self.probabilities = torch.tensor(probabilities)


def test_out_of_bag_scores_each_row_by_the_members_that_held_it_out():
    labels = ["a"] * 30 + ["b"] * 30
    inputs = [torch.tensor([row]) for row in range(60)]
    pool = classify_members.Pool(
        classify_members.Examples(inputs, torch.tensor([0] * 30 + [1] * 30)), labels, 0.2
    )
    members = [Constant([1.0, 0.0]), Constant([0.0, 1.0]), Constant([0.5, 0.5])]

    def predict(member, batch):
        assert not member.training  # scored in eval mode
        return member.probabilities.expand(len(batch), 2)

    rows, probabilities = classify_members.out_of_bag(members, pool, 7, predict)
    held = [set(stratified_split(labels, 0.2, 7 + i)[1]) for i in range(3)]
    assert rows == sorted(held[0] | held[1] | held[2])
    for row, got in zip(rows, probabilities, strict=True):  # by hand: the holders' mean
        holders = [members[i].probabilities for i in range(3) if row in held[i]]
        torch.testing.assert_close(got, torch.stack(holders).mean(0))
    with_val = dataclasses.replace(pool, val=pool.examples)
    assert classify_members.out_of_bag(members, with_val, 7, predict)[0] == []


def test_the_default_ensemble_follows_the_data_and_tuning_trains_one(tmp_path):
    options = classify.ClassifyOptions(data=tmp_path / "x.csv", out=tmp_path / "run")
    assert options.ensemble is None
    assert classify.TEXT_ENSEMBLES == ((2_000, 5), (20_000, 3))
    assert [options.ensemble_size(n) for n in (1000, 1999, 2000, 19_999, 20_000)] == [5, 5, 3, 3, 1]
    assert dataclasses.replace(options, ensemble=5).ensemble_size(50_000) == 5
    assert dataclasses.replace(options, refit=True).ensemble_size(1000) == 1
    assert dataclasses.replace(options, images="rows").ensemble_size(1000) == 1
    assert dataclasses.replace(options, audio=True).ensemble_size(1000) == 1
    assert options.for_tuning().ensemble == 1
    assert dataclasses.replace(options, ensemble=4).for_tuning().ensemble == 4


def test_default_run_on_a_small_text_set_is_an_ensemble_sharing_the_time_limit(
    tmp_path, monkeypatch
):
    train = write_csv(tmp_path / "train.csv", sentiment_rows(60, seed=2))
    limits = []
    original = Trainer.__init__

    def spy(self, model, objective, options, run_dir, **kwargs):
        limits.append((options.time_limit, options.seed, run_dir.name))
        original(self, model, objective, options, run_dir, **kwargs)

    monkeypatch.setattr(Trainer, "__init__", spy)
    options = classify.ClassifyOptions(
        data=train, out=tmp_path / "run", epochs=1, time_limit="90s", seed=5, **FAST
    )
    run = classify.load_run(classify.train(options))
    assert run.config["model"]["members"] == 5
    assert limits == [(18.0, 5 + i, str(i)) for i in range(5)]  # 90 s / 5, seeds 5..9


def test_ctrl_c_in_a_member_stops_the_ensemble_and_resume_finishes_it(tmp_path, monkeypatch):
    train = write_csv(tmp_path / "train.csv", sentiment_rows(60, seed=4))
    options = classify.ClassifyOptions(
        data=train, out=tmp_path / "run", epochs=2, seed=1, ensemble=3, **FAST
    )
    started = []  # the members whose training began
    original_enter = trainer_module._StopRequests.__enter__

    def enter(self):
        requests = original_enter(self)
        started.append(len(started))
        if len(started) == 2:  # Ctrl-C as member 1 begins: it stops after one step
            requests.requested = True
        return requests

    monkeypatch.setattr(trainer_module._StopRequests, "__enter__", enter)
    built = []
    original_build = classify.build_model
    monkeypatch.setattr(
        classify, "build_model", lambda *a, **k: built.append(1) or original_build(*a, **k)
    )
    run_dir = classify.train(options)
    assert started == [0, 1] and len(built) == 2  # member 2 was neither built nor trained
    assert classify.load_run(run_dir).config["results"]["stop_reason"] == "interrupted"
    monkeypatch.setattr(trainer_module._StopRequests, "__enter__", original_enter)
    classify.train(dataclasses.replace(options, resume=True))
    results = classify.load_run(run_dir).config["results"]
    assert results["stop_reason"] == "members" and len(results["members"]) == 3
    plain = classify.train(dataclasses.replace(options, out=tmp_path / "plain", resume=False))
    for i in range(3):  # resumed members end where uninterrupted ones do
        expected = load_file(plain / "members" / str(i) / "model.safetensors")
        for name, tensor in load_file(run_dir / "members" / str(i) / "model.safetensors").items():
            torch.testing.assert_close(tensor, expected[name])
