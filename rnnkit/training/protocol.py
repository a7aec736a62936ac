"""What a task hands the trainer: the contract between ``rnnkit.tasks`` and ``rnnkit.training``.

Every task (lm, classify, tag, translate, forecast, detect) builds an ``Objective`` and a model and
calls ``rnnkit.training.Trainer(model, objective, options, run_dir).fit()``. The trainer owns the
loop, optimiser, schedule, clipping, precision, devices, distributed data parallelism, budgets,
early stopping, checkpoints (exact resume), metrics.csv and progress; the objective owns the data
and the loss. Nothing here imports a task.

A *batch* is a ``dict[str, Tensor]`` whose tensors all have the batch dimension first, so the
trainer can move it to a device and, under DDP, give each rank its contiguous slice of dim 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import torch
from torch import Tensor, nn

Batch = dict[str, Tensor]
# Whatever the objective carries from one batch to the next (truncated BPTT: the recurrent state).
# A tensor, a tuple/list/dict of tensors, or None. The trainer detaches it between batches, resets
# it to None at each epoch start, and saves it in checkpoints so a resumed run continues exactly.
Carry = Any


@dataclass
class StepResult:
    """What one training batch produced."""

    loss: Tensor  # scalar, mean over the batch's items; the trainer calls backward on it
    items: int  # how many items (tokens, sequences, time steps) the loss averages over
    carry: Carry = None  # state for the next batch (truncated BPTT), or None
    metrics: dict[str, float] = field(default_factory=dict)  # extra per-batch figures to log


class Objective(Protocol):
    """A task's data and loss, as the trainer sees them."""

    #: name of the validation metric that drives early stopping and best-weight keeping
    monitor: str
    #: "min" for losses, "max" for accuracy/BLEU-like metrics
    mode: Literal["min", "max"]

    def batches_per_epoch(self) -> int:
        """Number of batches ``train_batches`` yields in one epoch (for ETA and schedules)."""
        ...

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[Batch]:
        """The epoch's training batches, in an order drawn only from ``generator``.

        The trainer seeds ``generator`` from the run seed and the epoch, so the order is the same
        on resume; to resume mid-epoch it skips the batches already done.
        """
        ...

    def training_step(self, model: nn.Module, batch: Batch, carry: Carry) -> StepResult:
        """Forward pass and loss of one batch (already on the model's device)."""
        ...

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Validation metrics, including ``monitor``. Runs under ``torch.no_grad`` and eval mode."""
        ...

    # An objective may also define ``parameter_groups(model) -> list[dict]``: the optimiser's
    # groups, each ``{"params": [...], "lr_scale": s}``, whose rate is ``s`` times the scheduled
    # one (discriminative learning rates); without it one group holds every trainable parameter.


@dataclass(frozen=True)
class ValidationReport:
    """One validation, as the trainer tells a ``ValidationHook`` about it.

    ``value`` is ``metrics[monitor]``: the figure that early stopping and the kept weights follow
    (lower is better when ``mode`` is ``"min"``). ``seconds`` counts training time so far.
    """

    step: int
    epoch: float
    seconds: float
    metrics: dict[str, float]
    monitor: str
    mode: Literal["min", "max"]

    @property
    def value(self) -> float:
        return self.metrics[self.monitor]


#: Called after each validation of a run with its report (on every rank under torchrun). It
#: returns None to let training go on, or a word saying why it must stop (``"pruned"``): the
#: trainer then ends as after early stopping, keeping the best weights, with that word as the
#: run's ``stop_reason``. How tuning stops an unpromising trial (``rnnkit.tasks.tuning``).
ValidationHook = Callable[[ValidationReport], "str | None"]
