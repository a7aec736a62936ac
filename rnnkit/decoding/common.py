"""What greedy and beam search share: the step function's type, the result, per-row length
limits and the no-repeat-n-gram constraint."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

#: ``step(tokens (N,), state) -> (log_probs (N, V), state)``: one decoder step for N hypotheses.
#: ``log_probs`` are normalised log-probabilities of the next token (``log_softmax`` of logits).
StepFn = Callable[[Tensor, Any], tuple[Tensor, Any]]


@dataclass
class SearchResult:
    """The chosen sequence of each batch row.

    ``tokens (B, L)``: generated ids without bos and eos, padded with ``pad_id`` past ``lengths``;
    ``lengths (B,)``: how many ids each row generated (eos not counted);
    ``log_probs (B,)``: sum of the chosen tokens' log-probabilities, the eos included when emitted;
    ``scores (B,)``: what the search ranked by (``log_probs`` divided by the length penalty; equal
    to ``log_probs`` for greedy search).
    """

    tokens: Tensor
    lengths: Tensor
    log_probs: Tensor
    scores: Tensor

    def sequences(self) -> list[list[int]]:
        """The generated ids of each row as Python lists."""
        return [row[:n].tolist() for row, n in zip(self.tokens, self.lengths.tolist(), strict=True)]


def max_lengths(max_len: int | Tensor, batch_size: int, device: torch.device) -> Tensor:
    """``max_len`` as a ``(B,)`` int64 tensor: the most tokens (eos included) each row may emit."""
    if isinstance(max_len, int):
        if max_len < 0:
            raise ValueError(f"max_len must be >= 0, got {max_len}")
        return torch.full((batch_size,), max_len, dtype=torch.long, device=device)
    if max_len.shape != (batch_size,):
        raise ValueError(f"max_len must be an int or a ({batch_size},) tensor, got {max_len.shape}")
    if (max_len < 0).any():
        raise ValueError("max_len must be >= 0 in every row")
    return max_len.to(device=device, dtype=torch.long)


def ban_repeated_ngrams(log_probs: Tensor, history: Tensor, n: int) -> Tensor:
    """Mask with ``-inf`` every token that would complete an n-gram already in ``history``.

    ``log_probs (N, V)``, ``history (N, t)``: the tokens generated so far by each hypothesis.
    ``n <= 0`` bans nothing; ``n == 1`` bans every token already generated.
    """
    steps = history.shape[1]
    if n <= 0 or steps < n:
        return log_probs
    windows = history.unfold(1, n, 1)  # (N, W, n): every n-gram generated so far
    suffix = history[:, steps - n + 1 :]  # (N, n - 1): the last n - 1 tokens
    matches = (windows[:, :, : n - 1] == suffix[:, None, :]).all(dim=-1)  # (N, W)
    # Count matches per token (several windows may end in the same token), then ban counts > 0.
    counts = torch.zeros(log_probs.shape, dtype=torch.long, device=log_probs.device)
    counts.scatter_add_(1, windows[:, :, -1], matches.long())
    return log_probs.masked_fill(counts > 0, float("-inf"))
