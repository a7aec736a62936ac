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
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, Literal

from rnnkit.errors import UserError

DEFAULT_EPOCHS = 10

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "plateau", "slanted")
PRECISIONS = ("fp32", "bf16")
PROGRESS_MODES = ("auto", "bar", "plain", "off")
CLOCKS = ("wall", "cpu")
WEIGHT_AVERAGES = ("none", "ema", "neighbours")

#: the ``--help`` panel of the training flags
TRAINING = "Training"


def option(
    default: Any = MISSING,
    *,
    help: str,
    panel: str = "Data",
    fixed: bool = False,
    cli_type: Any = None,
    default_factory: Any = MISSING,
) -> Any:
    """A dataclass field that is also a command-line flag, declared once.

    ``help`` and ``panel`` are what ``rnnkit train <task> --help`` shows; ``fixed`` marks an
    option that fixes the model or the data layout, so a resumed run must keep it;
    ``cli_type`` is the flag's type when it differs from the field's (a duration typed as
    text, stored as seconds).
    """
    metadata = {"help": help, "panel": panel, "fixed": fixed, "cli_type": cli_type}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def _flag(default: Any, help: str, **more: Any) -> Any:
    """A training option: a flag in the Training panel of every ``rnnkit train <task>``."""
    return option(default, help=help, panel=TRAINING, **more)


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
    optimizer: Literal["sgd", "adam", "adamw"] = _flag("adamw", "Optimiser.")
    lr: float = _flag(1e-3, "Peak learning rate.")
    weight_decay: float | None = _flag(
        None, "Weight decay; when unset, 0.01 for adamw and 0 otherwise."
    )
    momentum: float = _flag(0.9, "Momentum of sgd.")
    # schedule; lr is multiplied by a linear warm-up factor during the first warmup_steps steps
    schedule: Literal["constant", "step", "cosine", "plateau", "slanted"] = _flag(
        "constant",
        "Learning-rate schedule after the warm-up (slanted: ULMFiT's slanted triangle, a short "
        "linear rise then a long linear fall).",
    )
    warmup_steps: int = _flag(0, "Steps of linear learning-rate warm-up.")
    min_lr: float = _flag(0.0, "Lowest learning rate of the cosine and plateau schedules.")
    lr_decay: float = _flag(0.5, "Factor of each decay of the step and plateau schedules.")
    lr_step_size: int | None = _flag(
        None, "Steps between decays of the step schedule (default: an epoch)."
    )
    plateau_patience: int = _flag(2, "Evaluations without improvement before plateau decays.")
    # weights validated and kept: the last step's, a moving average of the steps', or the mean
    # of the best validation's and its neighbours' (averaging.py)
    weight_average: Literal["none", "ema", "neighbours"] = _flag(
        "none",
        "Validate and keep an exponential moving average of the weights (ema), or keep the mean "
        "of the best validation's weights and those of the validations before and after it "
        "(neighbours).",
        fixed=True,
    )
    ema_decay: float = _flag(0.999, "Decay of --weight-average ema per step.", fixed=True)
    # gradient clipping (both may be given: value first, then norm)
    clip_norm: float | None = _flag(1.0, "Clip the gradient's norm to this.")
    clip_value: float | None = _flag(None, "Clip each gradient value to +-this.")
    # budgets
    epochs: int | None = _flag(None, "Passes over the training data.")
    max_steps: int | None = _flag(None, "Stop after this many training batches.")
    # seconds, or text like "10m"; stored as seconds
    time_limit: float | str | None = _flag(
        None, "Stop after this much time, e.g. 90s, 10m, 1h30m.", cli_type=str | None
    )
    clock: Literal["wall", "cpu"] = _flag(
        "wall",
        "What --time-limit counts: wall-clock time, or this process's CPU time over all its "
        "threads (fair budgets on a shared machine).",
    )
    # evaluation, early stopping, checkpoints
    eval_every: int | None = _flag(None, "Steps between validations (default: each epoch end).")
    patience: int | None = _flag(None, "Stop after this many validations without improvement.")
    min_delta: float = _flag(
        0.0, "Smallest change of the validation metric that counts as improvement."
    )
    checkpoint_every: int | None = _flag(
        None, "Steps between checkpoints (default: by time, and epochs)."
    )
    checkpoint_seconds: float = _flag(
        300.0, "Seconds between checkpoints when --checkpoint-every is unset."
    )
    resume: bool = _flag(False, "Continue the run in --out from its last checkpoint.")
    # numerics and hardware
    precision: Literal["fp32", "bf16"] = _flag(
        "fp32", "Numeric precision (bf16 autocast on CPU or CUDA)."
    )
    device: str = _flag("auto", "auto, cpu, cuda or cuda:N.")
    seed: int = _flag(0, "Seed of every random choice: weights, dropout, data order.")
    max_bad_steps: int = _flag(5, "Consecutive NaN/Inf steps before training stops.")
    # output
    log_every: int = _flag(50, "Steps between log lines and metrics.csv rows.")
    progress: Literal["auto", "bar", "plain", "off"] = _flag(
        "auto", "Progress display on stderr (bar on a terminal by default)."
    )
    tensorboard: bool = _flag(False, "Also write TensorBoard events (needs tensorboard installed).")

    def __post_init__(self) -> None:
        if self.time_limit is not None:
            self.time_limit = parse_duration(self.time_limit)

    def validate(self) -> TrainOptions:
        """Check every value; raise ``UserError`` naming the first bad option. Returns ``self``."""
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("precision", self.precision, PRECISIONS)
        _choice("progress", self.progress, PROGRESS_MODES)
        _choice("clock", self.clock, CLOCKS)
        _choice("weight_average", self.weight_average, WEIGHT_AVERAGES)
        if not 0 < self.ema_decay < 1:
            raise UserError(f"--ema-decay must be between 0 and 1, got {self.ema_decay!r}.")
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
