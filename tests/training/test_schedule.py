"""Learning-rate schedules and early stopping against their closed forms."""

from __future__ import annotations

import math

import pytest

from rnnkit.training.options import TrainOptions
from rnnkit.training.schedule import EarlyStopping, LearningRateSchedule


def schedule(steps_per_epoch=10, total_steps=None, time_limit=None, **options):
    return LearningRateSchedule(
        TrainOptions(**options),
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        time_limit=time_limit,
    )


def test_constant_with_warmup_ramps_linearly_then_holds():
    s = schedule(lr=0.1, warmup_steps=4)
    assert [s.lr_at(i) for i in range(6)] == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1, 0.1])


def test_step_schedule_decays_every_step_size_after_warmup():
    s = schedule(lr=1.0, schedule="step", lr_decay=0.1, lr_step_size=3, warmup_steps=2)
    for step in range(2, 12):
        expected = 1.0 * 0.1 ** ((step - 2) // 3)
        assert s.lr_at(step) == pytest.approx(expected)


def test_step_schedule_defaults_to_one_decay_per_epoch():
    s = schedule(steps_per_epoch=5, lr=1.0, schedule="step", lr_decay=0.5)
    assert [s.lr_at(i) for i in (0, 4, 5, 9, 10)] == pytest.approx([1, 1, 0.5, 0.5, 0.25])


def test_cosine_follows_the_half_cosine_from_lr_to_min_lr():
    lr, min_lr, warmup, total = 0.2, 0.02, 5, 105
    s = schedule(lr=lr, min_lr=min_lr, schedule="cosine", warmup_steps=warmup, total_steps=total)
    for step in range(warmup, total + 3):
        progress = min(1.0, (step - warmup) / (total - warmup))
        expected = min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * progress))
        assert s.lr_at(step) == pytest.approx(expected, rel=1e-12)
    assert s.lr_at(warmup) == pytest.approx(lr)
    assert s.lr_at(total) == pytest.approx(min_lr)
    assert s.lr_at(0) == pytest.approx(lr / warmup)  # warm-up factor times the cosine at p=0


def test_cosine_with_only_a_time_limit_follows_the_time_spent():
    s = schedule(lr=1.0, schedule="cosine", time_limit=100.0)
    assert s.lr_at(7, elapsed_seconds=50.0) == pytest.approx(0.5)
    assert s.lr_at(7, elapsed_seconds=25.0) == pytest.approx((1 + math.cos(math.pi / 4)) / 2)


def test_plateau_decays_after_patience_evaluations_without_improvement():
    s = schedule(lr=1.0, schedule="plateau", lr_decay=0.5, plateau_patience=2, min_lr=0.2)
    lrs = []
    for value in [5.0, 4.0, 4.5, 4.2, 3.0, 3.5, 3.9, 3.9, 3.9, 3.9, 3.9]:
        s.observe(value)
        lrs.append(s.lr_at(0))
    #    5     4     4.5   4.2*  3     3.5   3.9*  3.9   3.9*  3.9   3.9*(floor 0.2)
    expected = [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2, 0.2]
    assert lrs == pytest.approx(expected)


def test_plateau_state_round_trips():
    s = schedule(schedule="plateau", plateau_patience=1)
    for value in [3.0, 4.0, 5.0]:
        s.observe(value)
    t = schedule(schedule="plateau", plateau_patience=1)
    t.load_state_dict(s.state_dict())
    assert t.lr_at(3) == s.lr_at(3) and t.state_dict() == s.state_dict()


@pytest.mark.parametrize("mode", ["min", "max"])
def test_early_stopping_counts_evaluations_without_improvement(mode):
    sign = 1 if mode == "min" else -1
    stopper = EarlyStopping(mode, patience=2, min_delta=0.1)
    values = [sign * v for v in [3.0, 2.0, 1.95, 1.5, 1.6, 1.7]]
    history = []
    for step, value in enumerate(values):
        improved = stopper.update(value, step)
        history.append((improved, stopper.should_stop))
    # 1.95 is within min_delta of 2.0, so it does not count as an improvement
    assert history == [
        (True, False),
        (True, False),
        (False, False),
        (True, False),
        (False, False),
        (False, True),
    ]
    assert stopper.best == sign * 1.5 and stopper.best_step == 3


def test_slanted_triangle_matches_values_worked_by_hand_from_ulmfits_formula():
    # T = 100 steps, lr 0.01: cut = floor(100 * 0.1) = 10, ratio 32, so the rate starts at
    # 0.01 / 32, peaks at 0.01 at step 10, and falls by 31 / 32 * 0.01 / 90 per step after it
    s = schedule(lr=0.01, schedule="slanted", total_steps=100)
    worked = {
        0: 0.0003125,  # (1 + 0 * 31) / 32 * 0.01
        5: 0.00515625,  # p = 5 / 10: (1 + 15.5) / 32 * 0.01
        10: 0.01,  # p = 1
        55: 0.00515625,  # p = 1 - 45 / 90 = 0.5
        99: 0.0004201388888888889,  # p = 1 - 89 / 90 = 1 / 90: (1 + 31 / 90) / 32 * 0.01
    }
    for step, rate in worked.items():
        assert s.lr_at(step) == pytest.approx(rate, rel=1e-12), step
    # T = 105: cut = 10 still, so the triangle ends at step 100 and the rate stays at lr / 32
    s = schedule(lr=0.01, schedule="slanted", total_steps=105)
    assert [s.lr_at(i) for i in (100, 104)] == pytest.approx([0.0003125, 0.0003125])
    # with only a time limit the position is the fraction of the time spent (cut at 0.1)
    s = schedule(lr=0.01, schedule="slanted", time_limit=60.0)
    assert s.lr_at(3, elapsed_seconds=3.0) == pytest.approx(0.00515625)
    assert s.lr_at(30, elapsed_seconds=33.0) == pytest.approx(0.00515625)
