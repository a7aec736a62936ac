"""An exponential moving average of a model's weights, validated and kept in place of the weights.

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
