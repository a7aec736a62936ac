"""The options of a training run, shared by every task.

``TrainOptions`` is a flat dataclass of plain types so that a task can embed its fields in its own
options dataclass (or hold one), the CLI and a TOML file can fill it, and ``config.json`` can store
it. ``validate()`` checks the values and raises ``UserError`` naming the option and the fix.

Budgets combine: training stops at whichever of ``epochs``, ``max_steps`` and ``time_limit`` comes
first; when none is given, it runs ``DEFAULT_EPOCHS`` epochs. A *step* is one training batch
(including a batch skipped because its loss or gradient was NaN/Inf).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from rnnkit.errors import UserError

DEFAULT_EPOCHS = 10

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "plateau")
PRECISIONS = ("fp32", "bf16")
PROGRESS_MODES = ("auto", "bar", "plain", "off")

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(h|m|s)", re.IGNORECASE)
_SECONDS_PER_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(text: str | float | int) -> float:
    """Seconds in a duration such as ``"10m"``, ``"90s"``, ``"1h30m"``, ``"2.5h"`` or ``"45"``.

    A bare number counts seconds. Raises ``UserError`` for text that is not a positive duration.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        compact = str(text).strip().replace(" ", "")
        try:
            seconds = float(compact)
        except ValueError:
            parts = _DURATION_PART.findall(compact)
            if not parts or "".join(number + unit for number, unit in parts) != compact:
                raise UserError(
                    f"time limit {text!r} is not a duration; write it like 90s, 10m or 1h30m."
                ) from None
            seconds = sum(float(n) * _SECONDS_PER_UNIT[u.lower()] for n, u in parts)
    if not math.isfinite(seconds) or seconds <= 0:
        raise UserError(f"time limit {text!r} must be a positive duration such as 10m.")
    return seconds


@dataclass
class TrainOptions:
    """How to train: optimiser, schedule, clipping, budgets, checkpoints, devices, logging."""

    # optimiser
    optimizer: str = "adamw"  # sgd | adam | adamw
    lr: float = 1e-3
    weight_decay: float | None = None  # None: 0.01 for adamw, 0 for sgd and adam
    momentum: float = 0.9  # sgd only
    # schedule; lr is multiplied by a linear warm-up factor during the first warmup_steps steps
    schedule: str = "constant"  # constant | step | cosine | plateau
    warmup_steps: int = 0
    min_lr: float = 0.0  # floor of cosine and plateau
    lr_decay: float = 0.5  # factor of the step and plateau schedules
    lr_step_size: int | None = None  # steps between decays of "step"; None: one epoch
    plateau_patience: int = 2  # evaluations without improvement before "plateau" decays
    # gradient clipping (both may be given: value first, then norm)
    clip_norm: float | None = 1.0
    clip_value: float | None = None
    # budgets
    epochs: int | None = None
    max_steps: int | None = None
    time_limit: float | str | None = None  # seconds, or text like "10m"; stored as seconds
    # evaluation, early stopping, checkpoints
    eval_every: int | None = None  # steps; None: at each epoch end
    patience: int | None = None  # evaluations without improvement before stopping; None: never
    min_delta: float = 0.0  # smallest change of the monitored metric that counts as improvement
    checkpoint_every: int | None = None  # steps; None: every checkpoint_seconds and each epoch end
    checkpoint_seconds: float = 300.0
    resume: bool = False
    # numerics and hardware
    precision: str = "fp32"  # fp32 | bf16
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    seed: int = 0
    max_bad_steps: int = 5  # consecutive NaN/Inf steps before training stops
    # output
    log_every: int = 50  # steps between log lines and metrics.csv rows
    progress: str = "auto"  # auto (bar on a terminal) | bar | plain | off
    tensorboard: bool = False

    def __post_init__(self) -> None:
        if self.time_limit is not None:
            self.time_limit = parse_duration(self.time_limit)

    def validate(self) -> TrainOptions:
        """Check every value; raise ``UserError`` naming the first bad option. Returns ``self``."""
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("precision", self.precision, PRECISIONS)
        _choice("progress", self.progress, PROGRESS_MODES)
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise UserError(f"--device {self.device!r} is not known; use auto, cpu or cuda.")
        _positive("lr", self.lr)
        for name in ("clip_norm", "clip_value", "checkpoint_seconds"):
            value = getattr(self, name)
            if value is not None:
                _positive(name, value)
        for name in ("epochs", "max_steps", "eval_every", "patience", "checkpoint_every"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise UserError(f"--{_flag(name)} must be a whole number >= 1, got {value!r}.")
        for name in ("log_every", "max_bad_steps", "plateau_patience"):
            if getattr(self, name) < 1:
                raise UserError(f"--{_flag(name)} must be >= 1, got {getattr(self, name)!r}.")
        if self.lr_step_size is not None and self.lr_step_size < 1:
            raise UserError(f"--lr-step-size must be >= 1, got {self.lr_step_size!r}.")
        if self.warmup_steps < 0:
            raise UserError(f"--warmup-steps must be >= 0, got {self.warmup_steps!r}.")
        if self.weight_decay is not None and self.weight_decay < 0:
            raise UserError(f"--weight-decay must be >= 0, got {self.weight_decay!r}.")
        if not 0 <= self.momentum < 1:
            raise UserError(f"--momentum must be in [0, 1), got {self.momentum!r}.")
        if not 0 < self.lr_decay <= 1:
            raise UserError(f"--lr-decay must be in (0, 1], got {self.lr_decay!r}.")
        if not 0 <= self.min_lr <= self.lr:
            raise UserError(f"--min-lr must be between 0 and --lr ({self.lr}), got {self.min_lr}.")
        return self

    def effective_weight_decay(self) -> float:
        """The weight decay actually used: the given one, or the optimiser's customary default."""
        if self.weight_decay is not None:
            return self.weight_decay
        return 0.01 if self.optimizer == "adamw" else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of all fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainOptions:
        """Build from a dict, ignoring keys that are not ``TrainOptions`` fields (task options)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


def _flag(name: str) -> str:
    return name.replace("_", "-")


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise UserError(f"--{_flag(name)} {value!r} is not known; use one of {', '.join(allowed)}.")


def _positive(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise UserError(f"--{_flag(name)} must be a positive number, got {value!r}.")
