"""Averages of a model's weights, kept in place of the weights of one step.

``WeightAverage`` (``--weight-average ema``): an exponential moving average of the weights,
validated and kept in place of the weights.

Averaging the weights of the last few hundred steps smooths the noise of the final steps of
stochastic training; on small data sets, where a model overfits within a few epochs, the average
validates better than any single step's weights (Polyak and Juditsky 1992; the same idea as
AWD-LSTM's averaged SGD and stochastic weight averaging).

After update ``t`` (counting from 1) the average is

    a_t = d_t * a_{t-1} + (1 - d_t) * w_t,    d_t = min(decay, t / (t + 9)),

with ``a_0`` the initial weights: the warm-up of ``d_t`` keeps the first updates from being
dominated by the initial weights (the schedule of TensorFlow's ``ExponentialMovingAverage``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from rnnkit.training.checkpoint import with_prefix
from rnnkit.training.rundir import copy_weights_into, unique_state_dict


class WeightAverage:
    """The running average of ``model``'s floating-point tensors (parameters and buffers).

    Integer buffers (counters) are copied, not averaged. The average lives on the model's device.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.tensors = {name: t.detach().clone() for name, t in unique_state_dict(model).items()}

    def current_decay(self) -> float:
        """``d_t`` of the next update."""
        t = self.updates + 1
        return min(self.decay, t / (t + 9))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold the model's current weights into the average."""
        weight = 1.0 - self.current_decay()
        averaged, latest, copied = [], [], []
        for name, tensor in unique_state_dict(model).items():
            if tensor.is_floating_point():
                averaged.append(self.tensors[name])
                latest.append(tensor.detach())
            else:
                copied.append((self.tensors[name], tensor))
        if averaged:
            torch._foreach_lerp_(averaged, latest, weight)
        for target, source in copied:
            target.copy_(source)
        self.updates += 1

    @contextmanager
    def swapped_in(self, model: nn.Module) -> Iterator[None]:
        """Give ``model`` the averaged weights for the block, then its own weights back."""
        own = unique_state_dict(model)
        saved = {name: t.detach().clone() for name, t in own.items()}
        copy_weights_into(own, self.tensors)
        try:
            yield
        finally:
            copy_weights_into(own, saved)

    def copy_to(self, model: nn.Module) -> None:
        """Replace ``model``'s weights by the average for good."""
        copy_weights_into(unique_state_dict(model), self.tensors)

    def load(self, tensors: dict[str, Tensor], updates: int) -> None:
        """Restore the average from a checkpoint."""
        if set(tensors) != set(self.tensors):
            raise ValueError("the checkpoint's weight average does not fit this model")
        copy_weights_into(self.tensors, tensors)
        self.updates = updates


class NeighbourAverage:
    """The mean of the best validation's weights and those of the validations just before and
    after it (``--weight-average neighbours``).

    On a small validation set (the 80-100 held-out sentences of a thousand-sentence text set)
    which validation scores best is partly luck: its accuracy moves by several points from one
    epoch to the next. The mean of three consecutive validations' weights, the chosen one and
    its neighbours, is a short stochastic weight average around the chosen point (Izmailov et al.
    2018): it keeps the choice of where in training to stop, and averages away some of the noise
    of the step that happened to be there.

    ``observe`` is called at every validation with the weights just validated and whether they
    were the best so far. The tensors live on the CPU.
    """

    def __init__(self) -> None:
        self.previous: dict[str, Tensor] | None = None  # weights of the last validation
        self.total: dict[str, Tensor] | None = None  # sum over the best's neighbourhood
        self.count = 0  # validations in that sum
        self.awaiting_next = False  # the validation after the best is still to come

    def observe(self, weights: dict[str, Tensor], improved: bool) -> None:
        """Fold the weights of one validation in. ``weights`` must not change afterwards."""
        if improved:
            self.total = {name: tensor.clone() for name, tensor in weights.items()}
            self.count = 1
            if self.previous is not None:
                self._add(self.previous)
            self.awaiting_next = True
        elif self.awaiting_next and self.total is not None:
            self._add(weights)
            self.awaiting_next = False
        self.previous = weights

    def _add(self, weights: dict[str, Tensor]) -> None:
        """Add one validation's floating-point tensors to the sum (counters stay the best's)."""
        assert self.total is not None
        for name, tensor in weights.items():
            if tensor.is_floating_point():
                self.total[name] += tensor
        self.count += 1

    def mean(self) -> dict[str, Tensor] | None:
        """The averaged weights (integer tensors, counters, as the best validation's), or None
        before any best."""
        if self.total is None:
            return None
        return {
            name: t / self.count if t.is_floating_point() else t.clone()
            for name, t in self.total.items()
        }

    def state(self) -> tuple[dict[str, Tensor], dict[str, int | bool]]:
        """(tensors named ``previous.*`` and ``total.*``, document) for a checkpoint."""
        tensors = with_prefix("previous", self.previous or {})
        tensors.update(with_prefix("total", self.total or {}))
        return tensors, {"count": self.count, "awaiting_next": self.awaiting_next}

    def load(
        self,
        previous: dict[str, Tensor],
        total: dict[str, Tensor],
        document: dict[str, int | bool],
    ) -> None:
        """Restore what ``state`` wrote: its ``previous.*`` and ``total.*`` tensors, each with
        the prefix removed (empty: none), and its document."""
        self.previous, self.total = previous or None, total or None
        self.count, self.awaiting_next = int(document["count"]), bool(document["awaiting_next"])
