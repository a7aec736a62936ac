"""Helpers for padded batches: masks from lengths, per-sequence reversal, and input checks."""

from __future__ import annotations

import torch
from torch import Tensor


def check_lengths(lengths: Tensor, batch_size: int, max_steps: int) -> Tensor:
    """Validate ``lengths (B,)`` against a ``(B, T, F)`` batch; return it as int64.

    The result stays on the device ``lengths`` came on (a list becomes a CPU tensor); reading
    its minimum and maximum synchronises with a GPU once. Raises ``ValueError`` naming expected
    and actual when the shape is wrong or a length is outside ``1..T``.
    """
    if not isinstance(lengths, Tensor):
        lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or lengths.shape[0] != batch_size:
        raise ValueError(
            f"lengths must have shape ({batch_size},) to match the batch, "
            f"got {tuple(lengths.shape)}"
        )
    if lengths.is_floating_point() or lengths.is_complex():
        raise ValueError(f"lengths must hold integers, got dtype {lengths.dtype}")
    if torch.compiler.is_exporting():
        return lengths.long()  # the lengths are the graph's data: no values to check yet
    low, high = int(lengths.min()), int(lengths.max())
    if low < 1 or high > max_steps:
        raise ValueError(
            f"lengths must lie in 1..{max_steps} (the batch's time steps), "
            f"got values in {low}..{high}"
        )
    return lengths.long()


def lengths_to_mask(lengths: Tensor, max_steps: int, device: torch.device | None = None) -> Tensor:
    """``lengths (B,) -> mask (B, T)``, True at real steps ``t < lengths[b]``."""
    steps = torch.arange(max_steps, device=device if device is not None else lengths.device)
    return steps.unsqueeze(0) < lengths.to(steps.device).unsqueeze(1)


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of ``x (B, T, ...)`` within its own length; padding stays in place.

    Without ``lengths`` this is a plain flip along time. Applying it twice gives ``x`` back.
    """
    if lengths is None:
        return x.flip(1)
    batch, steps = x.shape[0], x.shape[1]
    t = torch.arange(steps, device=x.device).unsqueeze(0).expand(batch, steps)
    lens = lengths.to(x.device).unsqueeze(1)
    index = torch.where(t < lens, lens - 1 - t, t)
    index = index.view(batch, steps, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, index)
