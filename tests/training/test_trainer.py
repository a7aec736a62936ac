"""The training loop, feature by feature, against analytic expectations."""

from __future__ import annotations

import csv
import math
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from rnnkit.errors import UserError
from rnnkit.training import StepResult, Trainer, TrainingDiverged, TrainOptions, build_optimizer
from rnnkit.training.rundir import load_weights

sys.path.insert(0, str(Path(__file__).parent))
from toy_objectives import StreamObjective, TinyLSTM, train_toy  # noqa: E402


class Regression:
    """y = X w* + noise, 32 rows in batches of 4 drawn by the trainer's generator."""

    monitor = "loss"
    mode = "min"

    def __init__(
        self,
        batch_size=4,
        loss_scale=1.0,
        nan_at=(),
        always_nan=False,
        sleep=0.0,
        scripted_validation=None,
    ):
        g = torch.Generator().manual_seed(5)
        self.x = torch.randn(32, 3, generator=g)
        true_weights = torch.tensor([[1.0], [-2.0], [0.5]])
        self.y = self.x @ true_weights + 0.1 * torch.randn(32, 1, generator=g)
        self.batch_size, self.loss_scale = batch_size, loss_scale
        self.nan_at, self.always_nan, self.sleep = set(nan_at), always_nan, sleep
        self.scripted_validation = list(scripted_validation or [])
        self.calls = 0
        self.weights_before_step = []  # parameter snapshots at the start of each step
        self.weights_at_evaluation = []
        self.output_dtypes = []

    def batches_per_epoch(self):
        return len(self.x) // self.batch_size

    def train_batches(self, epoch, generator):
        order = torch.randperm(len(self.x), generator=generator)
        for i in range(self.batches_per_epoch()):
            rows = order[i * self.batch_size : (i + 1) * self.batch_size]
            yield {"x": self.x[rows], "y": self.y[rows]}

    def training_step(self, model, batch, carry):
        self.calls += 1
        self.weights_before_step.append(_snapshot(model))
        prediction = model(batch["x"])
        self.output_dtypes.append(prediction.dtype)
        loss = self.loss_scale * nn.functional.mse_loss(prediction.float(), batch["y"])
        if self.always_nan or self.calls in self.nan_at:
            loss = loss * float("nan")
        if self.sleep:
            time.sleep(self.sleep)
        return StepResult(loss=loss, items=len(batch["x"]))

    def evaluate(self, model):
        self.weights_at_evaluation.append(_snapshot(model))
        if self.scripted_validation:
            return {"loss": self.scripted_validation.pop(0)}
        return {"loss": float(nn.functional.mse_loss(model(self.x).float(), self.y))}


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _linear(seed=0):
    torch.manual_seed(seed)
    return nn.Linear(3, 1)


def _options(**changes):
    defaults = dict(epochs=2, optimizer="sgd", lr=0.05, momentum=0.0, progress="off", seed=1)
    return TrainOptions(**{**defaults, **changes})


def _rows(run_dir):
    with open(run_dir / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_learning_rate_of_each_step_follows_warmup_and_cosine(tmp_path):
    objective = Regression()
    options = _options(
        epochs=3, schedule="cosine", warmup_steps=4, lr=0.1, min_lr=0.01, log_every=1
    )
    Trainer(_linear(), objective, options, tmp_path).fit()
    rows = [r for r in _rows(tmp_path) if r["lr"]]
    total, warmup = 3 * 8, 4
    assert len(rows) == total
    for row in rows:
        s = int(row["step"]) - 1  # the row of step k reports the lr used by step k (0-based k-1)
        if s < warmup:
            expected = (s + 1) / warmup * 0.1
        else:
            p = (s - warmup) / (total - warmup)
            expected = 0.01 + 0.5 * (0.1 - 0.01) * (1 + math.cos(math.pi * p))
        assert float(row["lr"]) == pytest.approx(expected, rel=1e-5)


def test_gradient_norm_is_clipped_to_the_bound(tmp_path):
    model = _linear()
    objective = Regression(loss_scale=1000.0)  # a gradient far above the bound
    Trainer(model, objective, _options(max_steps=1, lr=1.0, clip_norm=0.5), tmp_path).fit()
    before = objective.weights_before_step[0]
    change = torch.cat([(model.state_dict()[k] - before[k]).flatten() for k in before])
    assert change.norm().item() == pytest.approx(0.5, rel=1e-5)  # SGD, lr 1: change = -grad


def test_small_gradients_are_not_clipped_and_sgd_steps_by_lr_times_grad(tmp_path):
    model = _linear()
    reference = _linear()
    objective = Regression()
    Trainer(model, objective, _options(max_steps=1, lr=0.1, clip_norm=1e6), tmp_path).fit()
    first = next(Regression().train_batches(0, _first_epoch_generator(seed=1)))
    loss = nn.functional.mse_loss(reference(first["x"]), first["y"])
    loss.backward()
    assert torch.allclose(model.weight, reference.weight - 0.1 * reference.weight.grad, atol=1e-7)
    assert torch.allclose(model.bias, reference.bias - 0.1 * reference.bias.grad, atol=1e-7)


def _first_epoch_generator(seed):
    from rnnkit.training.runtime import epoch_generator

    return epoch_generator(seed, 0)


def test_gradient_values_are_clipped_to_the_bound(tmp_path):
    model = _linear()
    objective = Regression(loss_scale=1000.0)
    options = _options(max_steps=1, lr=1.0, clip_norm=None, clip_value=0.01)
    Trainer(model, objective, options, tmp_path).fit()
    before = objective.weights_before_step[0]
    for name, value in model.state_dict().items():
        assert torch.allclose((value - before[name]).abs(), torch.full_like(value, 0.01))


def test_a_nan_loss_step_leaves_weights_and_optimizer_untouched(tmp_path, capsys):
    objective = Regression(nan_at={3})
    options = _options(epochs=1, optimizer="adam", progress="plain")
    Trainer(_linear(), objective, options, tmp_path).fit()
    snapshots = objective.weights_before_step
    for name in snapshots[0]:
        assert torch.equal(snapshots[3][name], snapshots[2][name])  # step 3 changed nothing
        assert not torch.equal(snapshots[2][name], snapshots[1][name])  # the others did
        assert not torch.equal(snapshots[4][name], snapshots[3][name])
    assert "NaN/Inf" in capsys.readouterr().err


class InfiniteGradient(Regression):
    """A finite loss whose gradient is NaN at step 2: d sqrt(|w - w|) / dw at 0."""

    def training_step(self, model, batch, carry):
        result = super().training_step(model, batch, carry)
        if self.calls == 2:
            w = model.weight
            result.loss = result.loss + torch.sqrt((w - w.detach()).abs().sum())
        return result


def test_a_nan_gradient_step_is_skipped_too(tmp_path):
    objective = InfiniteGradient()
    Trainer(_linear(), objective, _options(epochs=1), tmp_path).fit()
    snapshots = objective.weights_before_step
    assert all(torch.equal(snapshots[2][k], snapshots[1][k]) for k in snapshots[0])
    assert not all(torch.equal(snapshots[1][k], snapshots[0][k]) for k in snapshots[0])


def test_training_stops_with_advice_after_max_bad_steps_in_a_row(tmp_path):
    objective = Regression(always_nan=True)
    with pytest.raises(TrainingDiverged, match="lower the learning rate") as caught:
        Trainer(_linear(), objective, _options(max_bad_steps=3), tmp_path).fit()
    assert objective.calls == 3
    assert isinstance(caught.value, UserError)


def test_early_stopping_stops_at_the_expected_epoch_and_keeps_the_best_weights(tmp_path):
    # validation after each epoch: improvements at epochs 1-3, none at 4 and 5 -> patience 2 stops
    # after epoch 5; epoch 6's 1.0 is never seen. The weights of epoch 3 are kept.
    objective = Regression(scripted_validation=[5.0, 4.0, 3.0, 3.5, 3.4, 1.0, 0.5])
    model = _linear()
    result = Trainer(model, objective, _options(epochs=20, patience=2), tmp_path).fit()
    assert result["stop_reason"] == "early_stopping"
    assert result["step"] == 5 * 8 and objective.calls == 40
    assert result["best_step"] == 3 * 8 and result["metrics"] == {"loss": 3.0}
    best = objective.weights_at_evaluation[2]
    assert all(torch.equal(model.state_dict()[k], best[k]) for k in best)
    saved = load_weights(_linear(seed=9), tmp_path / "model.safetensors")
    assert all(torch.equal(saved.state_dict()[k], best[k]) for k in best)


def test_max_steps_budget_stops_mid_epoch_and_evaluates(tmp_path):
    objective = Regression()
    result = Trainer(_linear(), objective, _options(epochs=None, max_steps=11), tmp_path).fit()
    assert result["stop_reason"] == "max_steps" and objective.calls == 11
    assert result["epoch"] == pytest.approx(1 + 3 / 8)
    validation_steps = [int(r["step"]) for r in _rows(tmp_path) if r.get("val_loss")]
    assert validation_steps == [8, 11]  # epoch end, then the final evaluation


def test_epoch_budget_runs_whole_epochs(tmp_path):
    objective = Regression()
    result = Trainer(_linear(), objective, _options(epochs=3), tmp_path).fit()
    assert result["stop_reason"] == "epochs" and result["step"] == 24 == objective.calls


def test_time_limit_stops_cleanly_and_evaluates(tmp_path):
    objective = Regression(sleep=0.05)
    options = _options(epochs=None, time_limit="0.5s")
    started = time.monotonic()
    result = Trainer(_linear(), objective, options, tmp_path).fit()
    assert result["stop_reason"] == "time_limit"
    assert result["train_seconds"] >= 0.5
    # with no epoch or step budget only the limit ends the run; the wide upper bound leaves
    # room for a loaded machine's slow first step and evaluation
    assert 0.5 <= time.monotonic() - started < 30
    assert 3 <= objective.calls <= 11  # 0.05 s a step: about 10 steps
    assert len(objective.weights_at_evaluation) >= 1 and result["metrics"]


def test_cpu_clock_does_not_count_time_spent_asleep(tmp_path):
    # 0.05 s of sleep a step: on the wall clock 0.3 s lasts about 6 steps; asleep the process
    # uses no CPU, so on the CPU clock the same limit lets the whole 16-step budget run
    wall = Regression(sleep=0.05)
    options = _options(epochs=None, max_steps=16, time_limit="0.3s")
    assert Trainer(_linear(), wall, options, tmp_path / "wall").fit()["stop_reason"] == "time_limit"
    assert wall.calls < 16
    cpu = Regression(sleep=0.05)
    options = _options(epochs=None, max_steps=16, time_limit="0.3s", clock="cpu")
    result = Trainer(_linear(), cpu, options, tmp_path / "cpu").fit()
    assert result["stop_reason"] == "max_steps" and cpu.calls == 16
    assert result["train_seconds"] < 0.3  # CPU seconds, far fewer than the 0.8 s slept


def test_truncated_bptt_carries_detached_state_and_resets_each_epoch(tmp_path):
    objective = StreamObjective(chunks=4)
    torch.manual_seed(0)
    Trainer(TinyLSTM(), objective, _options(epochs=2, lr=0.01), tmp_path).fit()
    carries = objective.incoming_carries
    assert len(carries) == 8
    assert carries[0] is None and carries[4] is None  # each epoch starts afresh
    for carry in carries[1:4] + carries[5:]:
        h, c = carry
        assert h.shape == (1, 6, 8) and not h.requires_grad and h.grad_fn is None
        assert not c.requires_grad


def test_bf16_autocast_runs_in_bf16_and_its_loss_curve_stays_close_to_fp32(tmp_path):
    curves = {}
    for precision in ("fp32", "bf16"):
        objective = Regression()
        options = _options(epochs=4, precision=precision, log_every=1, lr=0.05)
        Trainer(_linear(), objective, options, tmp_path / precision).fit()
        expected = torch.bfloat16 if precision == "bf16" else torch.float32
        assert set(objective.output_dtypes) == {expected}
        curves[precision] = [
            float(r["train_loss"]) for r in _rows(tmp_path / precision) if r["train_loss"]
        ]
    fp32, bf16 = torch.tensor(curves["fp32"]), torch.tensor(curves["bf16"])
    assert len(fp32) == len(bf16) == 32
    assert fp32[-1] < 0.2 * fp32[0]  # it learns
    assert ((bf16 - fp32).abs() / fp32).max() < 0.05


def test_same_seed_same_weights_other_seed_other_data_order(tmp_path):
    first, _, _ = train_toy(tmp_path / "a", epochs=1)
    second, _, _ = train_toy(tmp_path / "b", epochs=1)
    other, _, _ = train_toy(tmp_path / "c", epochs=1, seed=8)
    for name, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[name]), name
    assert not all(torch.equal(v, other.state_dict()[k]) for k, v in first.state_dict().items())


def test_resume_with_a_model_of_another_shape_is_refused(tmp_path):
    Trainer(_linear(), Regression(), _options(epochs=1), tmp_path).fit()
    wider = nn.Linear(3, 2)
    with pytest.raises(UserError, match="does not fit this model"):
        Trainer(wider, WideRegression(), _options(epochs=2, resume=True), tmp_path).fit()


class WideRegression(Regression):
    def training_step(self, model, batch, carry):
        batch = {"x": batch["x"], "y": batch["y"].expand(-1, 2)}
        return super().training_step(model, batch, carry)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_cuda_without_a_gpu_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no CUDA GPU"):
        Trainer(_linear(), Regression(), _options(device="cuda"), tmp_path).fit()


def test_bad_options_are_refused_before_training(tmp_path):
    objective = Regression()
    with pytest.raises(UserError, match="--optimizer"):
        Trainer(_linear(), objective, _options(optimizer="lion"), tmp_path).fit()
    assert objective.calls == 0


@pytest.mark.parametrize(
    ("name", "kind", "settings"),
    [
        ("sgd", torch.optim.SGD, {"momentum": 0.9, "weight_decay": 0.0}),
        ("adam", torch.optim.Adam, {"weight_decay": 0.0}),
        ("adamw", torch.optim.AdamW, {"weight_decay": 0.01}),
    ],
)
def test_build_optimizer_follows_the_options(name, kind, settings):
    optimizer = build_optimizer(_linear(), TrainOptions(optimizer=name, lr=0.3))
    assert type(optimizer) is kind
    group = optimizer.param_groups[0]
    assert group["lr"] == 0.3 and all(group[k] == v for k, v in settings.items())


def test_plateau_schedule_halves_the_lr_after_evaluations_without_improvement(tmp_path):
    # validation 3, 4, 5: the 2nd and 3rd evaluations do not improve -> decay after epoch 3
    objective = Regression(scripted_validation=[3.0, 4.0, 5.0, 6.0])
    options = _options(epochs=4, schedule="plateau", plateau_patience=2, lr_decay=0.5, log_every=1)
    Trainer(_linear(), objective, options, tmp_path).fit()
    lrs = {int(r["step"]): float(r["lr"]) for r in _rows(tmp_path) if r["lr"]}
    assert all(lrs[s] == pytest.approx(0.05) for s in range(1, 25))
    assert all(lrs[s] == pytest.approx(0.025) for s in range(25, 33))


def test_weight_average_is_validated_and_kept_and_training_goes_on_from_the_raw_weights(tmp_path):
    decay = 0.7
    model, objective = _linear(), Regression()
    options = _options(epochs=2, weight_average="ema", ema_decay=decay)
    Trainer(model, objective, options, tmp_path).fit()
    raw = objective.weights_before_step  # raw[t]: the weights after t steps (t = 0..15)
    average = {k: v.clone() for k, v in raw[0].items()}
    for t in range(1, 9):  # a_t = d_t a_(t-1) + (1 - d_t) w_t up to the first validation
        d = min(decay, t / (t + 9))
        average = {k: d * average[k] + (1 - d) * raw[t][k] for k in average}
    validated = objective.weights_at_evaluation[0]
    for name in average:
        assert torch.allclose(validated[name], average[name], atol=1e-6), name
        # step 9 started from the raw weights, not from the average
        assert not torch.allclose(raw[8][name], average[name], atol=1e-4)
    # the kept weights are the better validated of the two averages
    losses = [
        float(nn.functional.mse_loss(objective.x @ w["weight"].T + w["bias"], objective.y))
        for w in objective.weights_at_evaluation
    ]
    kept = objective.weights_at_evaluation[losses.index(min(losses))]
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, kept[name])


@pytest.mark.parametrize(
    ("validations", "neighbourhood"),
    [
        ([5.0, 3.0, 4.0, 6.0], [0, 1, 2]),  # the best and both neighbours
        ([5.0, 4.0, 3.0], [1, 2]),  # the best is the last validation: no later neighbour
        ([3.0, 5.0, 6.0], [0, 1]),  # the best is the first: no earlier neighbour
        ([3.0], [0]),  # a single validation keeps its own weights
    ],
)
def test_neighbour_average_keeps_the_mean_of_the_best_validation_and_its_neighbours(
    tmp_path, validations, neighbourhood
):
    model, objective = _linear(), Regression(scripted_validation=validations)
    options = _options(epochs=len(validations), weight_average="neighbours")
    result = Trainer(model, objective, options, tmp_path).fit()
    validated = objective.weights_at_evaluation
    expected = {
        name: torch.stack([validated[i][name] for i in neighbourhood]).mean(0)
        for name in validated[0]
    }
    for name, tensor in model.state_dict().items():
        assert torch.allclose(tensor, expected[name], atol=1e-7), name
    saved = load_weights(_linear(seed=9), tmp_path / "model.safetensors")
    assert all(torch.equal(saved.state_dict()[k], model.state_dict()[k]) for k in expected)
    if len(neighbourhood) > 1:  # the averaged weights are validated once more and reported
        assert len(validated) == len(validations) + 1
        mse = nn.functional.mse_loss(
            objective.x @ expected["weight"].T + expected["bias"], objective.y
        )
        assert result["metrics"]["loss"] == pytest.approx(float(mse), rel=1e-5)
    else:
        assert len(validated) == 1 and result["metrics"] == {"loss": 3.0}


def test_the_validation_hook_hears_each_validation_and_can_stop_the_run(tmp_path):
    # scripted validations 5, 4, 6, 3: the hook stops after the third (a pruner's "pruned"); the
    # run ends there like early stopping, keeping the best weights (epoch 2's, loss 4.0)
    objective = Regression(scripted_validation=[5.0, 4.0, 6.0, 3.0])
    reports = []

    def hook(report):
        reports.append(report)
        return "pruned" if len(reports) == 3 else None

    model = _linear()
    result = Trainer(model, objective, _options(epochs=10), tmp_path, on_validation=hook).fit()
    assert [r.value for r in reports] == [5.0, 4.0, 6.0]
    assert [r.step for r in reports] == [8, 16, 24] and [r.epoch for r in reports] == [1, 2, 3]
    assert all(r.monitor == "loss" and r.mode == "min" for r in reports)
    assert result["stop_reason"] == "pruned" and result["step"] == 24 == objective.calls
    assert result["metrics"] == {"loss": 4.0} and result["best_step"] == 16
    best = objective.weights_at_evaluation[1]
    saved = load_weights(_linear(seed=9), tmp_path / "model.safetensors")
    assert all(torch.equal(saved.state_dict()[k], best[k]) for k in best)


def test_a_hook_stop_between_epochs_ends_at_that_validation_with_eval_every(tmp_path):
    objective = Regression(scripted_validation=[5.0, 4.0, 3.0])
    steps = []

    def hook(report):
        steps.append(report.step)
        return "pruned" if report.step == 6 else None

    options = _options(epochs=5, eval_every=3)
    result = Trainer(_linear(), objective, options, tmp_path, on_validation=hook).fit()
    assert steps == [3, 6] and result["stop_reason"] == "pruned" and objective.calls == 6
