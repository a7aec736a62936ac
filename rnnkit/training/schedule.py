"""Learning-rate schedules with linear warm-up, and the reduce-on-plateau rule.

The learning rate of step ``s`` (0-based: the number of steps already taken) is a closed form::

    lr(s) = warm(s) * base(s),   warm(s) = min(1, (s + 1) / warmup_steps)   (1 without warm-up)

    constant  base = lr
    step      base = lr * lr_decay ** floor(max(0, s - warmup_steps) / lr_step_size)
    cosine    base = min_lr + (lr - min_lr) * (1 + cos(pi * p)) / 2,  p in [0, 1] the progress
    plateau   base = max(min_lr, lr * lr_decay ** k),  k = decays so far
    slanted   base = lr * (1 + q * (ratio - 1)) / ratio,
              q = s / cut before the cut, else max(0, 1 - (s - cut) / (cut * (1 / cut_frac - 1)))

Cosine progress is ``(s - warmup_steps) / (total_steps - warmup_steps)`` when the number of steps
is known (epochs or max_steps); with only a time limit it is the fraction of the time spent.
The slanted triangle is ULMFiT's (Howard & Ruder 2018, eq. 3) with the paper's
``cut_frac = 0.1`` and ``ratio = 32``: the rate rises linearly from ``lr / 32`` to ``lr`` over the
first tenth of training and falls linearly back over the rest; ``cut = floor(T * cut_frac)``
with ``T`` the steps after the warm-up. With only a time limit, ``s`` is the fraction of the time
spent and ``cut`` is 0.1.
Plateau decays when ``plateau_patience`` evaluations in a row fail to improve the monitored metric.
"""

from __future__ import annotations

import math
from typing import Any

from rnnkit.training.options import TrainOptions

#: the slanted triangle's share of training spent rising, and its peak over its lowest rate
SLANTED_CUT, SLANTED_RATIO = 0.1, 32.0


class _SavedAttributes:
    """``state_dict`` and ``load_state_dict`` over the attributes named in ``saved_attributes``,
    the part of the object that changes while training (for checkpoints)."""

    saved_attributes: tuple[str, ...]

    def state_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.saved_attributes}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in self.saved_attributes:
            setattr(self, name, state[name])


class LearningRateSchedule(_SavedAttributes):
    """The learning rate as a function of the step (and elapsed time, for time-budget cosine)."""

    saved_attributes = ("decays", "best", "evaluations_without_improvement")

    def __init__(
        self,
        options: TrainOptions,
        *,
        steps_per_epoch: int,
        total_steps: int | None,
        time_limit: float | None,
    ) -> None:
        self.options = options
        self.step_size = options.lr_step_size or max(1, steps_per_epoch)
        self.total_steps = total_steps
        self.time_limit = time_limit
        self.decays = 0  # plateau decays so far
        self.best: float | None = None  # best monitored value, oriented so that lower is better
        self.evaluations_without_improvement = 0

    def lr_at(self, step: int, elapsed_seconds: float = 0.0) -> float:
        """Learning rate for step ``step`` (0-based) after ``elapsed_seconds`` of training."""
        o = self.options
        warm = min(1.0, (step + 1) / o.warmup_steps) if o.warmup_steps > 0 else 1.0
        after_warmup = max(0, step - o.warmup_steps)
        if o.schedule == "constant":
            base = o.lr
        elif o.schedule == "step":
            base = o.lr * o.lr_decay ** (after_warmup // self.step_size)
        elif o.schedule == "cosine":
            progress = self._progress(after_warmup, elapsed_seconds)
            base = o.min_lr + (o.lr - o.min_lr) * (1.0 + math.cos(math.pi * progress)) / 2.0
        elif o.schedule == "plateau":
            base = max(o.min_lr, o.lr * o.lr_decay**self.decays)
        elif o.schedule == "slanted":
            base = o.lr * slanted_fraction(self._slanted_point(after_warmup, elapsed_seconds))
        else:
            raise ValueError(f"unknown schedule {o.schedule!r}")
        return warm * base

    def _progress(self, after_warmup: int, elapsed_seconds: float) -> float:
        if self.total_steps is not None:
            span = max(1, self.total_steps - self.options.warmup_steps)
            return min(1.0, after_warmup / span)
        if self.time_limit:
            return min(1.0, elapsed_seconds / self.time_limit)
        return 0.0

    def _slanted_point(self, after_warmup: int, elapsed_seconds: float) -> tuple[float, float]:
        """(position, cut) of the slanted triangle: in steps when the step count ``T`` is known
        (``cut = floor(T * SLANTED_CUT)``, at least 1), else in fractions of the time limit."""
        if self.total_steps is not None:
            span = max(1, self.total_steps - self.options.warmup_steps)
            return float(after_warmup), float(max(1, math.floor(span * SLANTED_CUT)))
        return self._progress(after_warmup, elapsed_seconds), SLANTED_CUT

    def observe(self, value: float) -> None:
        """Record one evaluation of the monitored metric (lower is better) for ``plateau``."""
        if self.options.schedule != "plateau" or not math.isfinite(value):
            return
        if self.best is None or value < self.best - self.options.min_delta:
            self.best = value
            self.evaluations_without_improvement = 0
            return
        self.evaluations_without_improvement += 1
        if self.evaluations_without_improvement >= self.options.plateau_patience:
            self.decays += 1
            self.evaluations_without_improvement = 0


def slanted_fraction(point: tuple[float, float]) -> float:
    """The slanted triangle's rate over its peak at ``(position, cut)``: it rises from
    ``1 / SLANTED_RATIO`` at 0 to 1 at ``cut``, then falls back to ``1 / SLANTED_RATIO`` at
    ``cut / SLANTED_CUT`` (the end of training) and stays there."""
    position, cut = point
    if position < cut:
        q = position / cut
    else:
        q = max(0.0, 1.0 - (position - cut) / (cut * (1.0 / SLANTED_CUT - 1.0)))
    return (1.0 + q * (SLANTED_RATIO - 1.0)) / SLANTED_RATIO


class EarlyStopping(_SavedAttributes):
    """Tracks the best value of the monitored metric and says when patience has run out."""

    saved_attributes = ("best", "best_step", "evaluations_without_improvement")

    def __init__(self, mode: str, patience: int | None, min_delta: float = 0.0) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.sign = 1.0 if mode == "min" else -1.0
        self.patience = patience
        self.min_delta = min_delta
        self.best: float | None = None  # in the metric's own units
        self.best_step: int | None = None
        self.evaluations_without_improvement = 0

    def oriented(self, value: float) -> float:
        """``value`` turned so that lower is better."""
        return self.sign * value

    def update(self, value: float, step: int) -> bool:
        """Record an evaluation; True if it is the best so far (by more than ``min_delta``)."""
        improved = math.isfinite(value) and (
            self.best is None or self.oriented(value) < self.oriented(self.best) - self.min_delta
        )
        if improved:
            self.best, self.best_step = value, step
            self.evaluations_without_improvement = 0
        else:
            self.evaluations_without_improvement += 1
        return improved

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.evaluations_without_improvement >= self.patience


def teacher_forcing_ratio(
    start: float, end: float | None, decay_epochs: float, epoch: float
) -> float:
    """Scheduled sampling's share of steps fed the truth after ``epoch`` (fractional) epochs:
    ``start``, decaying linearly to ``end`` over ``decay_epochs`` (constant when ``end`` is
    None)."""
    if end is None:
        return start
    progress = min(1.0, epoch / decay_epochs)
    return start + (end - start) * progress
