"""Dropout variants for recurrent networks (Gal & Ghahramani 2016; Merity et al. 2018, AWD-LSTM).

- ``locked_dropout``: one mask per sequence, shared by every time step (variational dropout).
- ``WeightDrop``: DropConnect on a weight matrix as a parametrization; inside
  ``torch.nn.utils.parametrize.cached()`` one dropped matrix serves every step of a forward pass.
- ``embedding_dropout``: drops whole rows of an embedding matrix (entire words), rescaling the rest.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def locked_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Dropout with one mask per sequence: ``x (B, T, F)`` with mask ``(B, 1, F)``."""
    if not training or p == 0.0:
        return x
    mask = x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(1.0 - p) / (1.0 - p)
    return x * mask


class LockedDropout(nn.Module):
    """Module form of ``locked_dropout`` for ``(B, T, F)`` batches."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return locked_dropout(x, self.p, self.training)


class WeightDrop(nn.Module):
    """A parametrization that applies dropout to a whole weight matrix while training."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"weight_drop must be in [0, 1), got {p}")
        self.p = p

    def forward(self, weight: Tensor) -> Tensor:
        return F.dropout(weight, self.p, self.training)


def embedding_dropout(embedding: nn.Embedding, tokens: Tensor, p: float, training: bool) -> Tensor:
    """Look up ``tokens (B, T)`` with whole vocabulary rows dropped with probability ``p``.

    Returns ``(B, T, E)``; the kept rows are scaled by ``1 / (1 - p)``.
    """
    weight = embedding.weight
    if training and p > 0.0:
        keep = weight.new_empty(weight.shape[0], 1).bernoulli_(1.0 - p) / (1.0 - p)
        weight = weight * keep
    return F.embedding(tokens, weight, embedding.padding_idx)
