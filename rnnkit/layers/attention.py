"""Attention over a padded memory: additive (Bahdanau) and multiplicative (Luong dot, general).

A decoder asks, at each step, which source positions matter for its current ``query (B, Q)``. Each
kind scores every position of the encoder's ``memory (B, S, M)``, the scores are softmaxed over the
real positions only (``mask (B, S)`` is True at real steps, so padding gets exactly zero weight),
and the context is the weighted sum of the memory::

    weights = softmax(score(query, memory))        # (B, S), rows sum to 1
    context = sum_s weights[:, s] * memory[:, s]   # (B, M)

Scores (Bahdanau et al. 2015; Luong et al. 2015):

- ``bahdanau`` (additive): ``v . tanh(W_q q + W_m m_s)``;
- ``luong-dot``: ``q . m_s`` (needs ``Q == M``);
- ``luong-general``: ``q . (W m_s)``.

The memory-side half of each score does not depend on the query, so ``prepare(memory)`` computes it
once per source sentence; a decoder then calls ``forward`` once per step with the prepared keys.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

ATTENTION_KINDS = ("bahdanau", "luong-dot", "luong-general")


class Attention(nn.Module):
    """Common interface: ``prepare`` the memory once, then ``forward`` once per decoder step."""

    query_size: int
    memory_size: int

    def prepare(self, memory: Tensor) -> Tensor:
        """Memory-side work shared by all steps: ``(B, S, M) -> keys (B, S, K)``."""
        raise NotImplementedError

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        """Unnormalised scores of each position for ``R`` queries per memory row:
        ``query (B, R, Q)``, ``keys (B, S, K) -> (B, R, S)``."""
        raise NotImplementedError

    def forward(
        self,
        query: Tensor,
        memory: Tensor,
        mask: Tensor | None = None,
        keys: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """``query (N, Q)``, ``memory (B, S, M)``, ``mask (B, S)`` True at real positions ->
        ``(context (N, M), weights (N, S))``. ``keys`` is ``prepare(memory)`` when precomputed.

        ``N`` is ``B`` or a multiple ``B * R``: queries ``b * R .. b * R + R - 1`` attend to
        memory row ``b`` (a beam search's hypotheses of one input share its memory, once).
        """
        batch = memory.shape[0]
        if query.shape[0] % max(batch, 1):
            raise ValueError(
                f"query rows ({query.shape[0]}) must be a multiple of memory rows ({batch})"
            )
        if keys is None:
            keys = self.prepare(memory)
        queries = query.view(batch, -1, query.shape[-1])  # (B, R, Q)
        scores = self.score(queries, keys)  # (B, R, S)
        weights = masked_softmax(scores, None if mask is None else mask.unsqueeze(1))
        context = torch.bmm(weights.to(memory.dtype), memory)  # (B, R, M)
        return context.flatten(0, 1), weights.flatten(0, 1)


def masked_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """Softmax over the last dim of ``scores (..., S)`` counting only positions where ``mask``
    (broadcast against ``scores``).

    Masked positions get exactly zero weight. Computed in float32 for stability under autocast.
    """
    scores = scores.float()
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1)


class BahdanauAttention(Attention):
    """Additive attention: ``score(q, m_s) = v . tanh(W_q q + W_m m_s + b)``.

    Args:
        query_size: ``Q``, the decoder state's width.
        memory_size: ``M``, the width of each encoder output.
        attention_size: ``A``, the width of the hidden layer inside the score.
    """

    def __init__(self, query_size: int, memory_size: int, attention_size: int) -> None:
        super().__init__()
        self.query_size, self.memory_size = query_size, memory_size
        self.attention_size = attention_size
        self.query_projection = nn.Linear(query_size, attention_size, bias=False)
        self.memory_projection = nn.Linear(memory_size, attention_size)
        self.v = nn.Linear(attention_size, 1, bias=False)

    def prepare(self, memory: Tensor) -> Tensor:
        return self.memory_projection(memory)  # (B, S, A)

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        projected = self.query_projection(query).unsqueeze(2)  # (B, R, 1, A)
        hidden = torch.tanh(keys.unsqueeze(1) + projected)  # (B, R, S, A)
        return self.v(hidden).squeeze(-1)


class LuongDotAttention(Attention):
    """Dot-product attention: ``score(q, m_s) = q . m_s``; no parameters, ``Q`` must equal ``M``."""

    def __init__(self, query_size: int, memory_size: int) -> None:
        super().__init__()
        if query_size != memory_size:
            raise ValueError(
                f"luong-dot attention needs query_size == memory_size, got {query_size} and "
                f"{memory_size}"
            )
        self.query_size, self.memory_size = query_size, memory_size

    def prepare(self, memory: Tensor) -> Tensor:
        return memory

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        return torch.bmm(query.to(keys.dtype), keys.transpose(1, 2))


class LuongGeneralAttention(Attention):
    """Bilinear attention: ``score(q, m_s) = q . (W m_s)`` with ``W (Q, M)``."""

    def __init__(self, query_size: int, memory_size: int) -> None:
        super().__init__()
        self.query_size, self.memory_size = query_size, memory_size
        self.memory_projection = nn.Linear(memory_size, query_size, bias=False)

    def prepare(self, memory: Tensor) -> Tensor:
        return self.memory_projection(memory)  # (B, S, Q)

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        return torch.bmm(query.to(keys.dtype), keys.transpose(1, 2))


def make_attention(
    kind: str, query_size: int, memory_size: int, attention_size: int | None = None
) -> Attention:
    """An attention module by name (``ATTENTION_KINDS``); ``attention_size`` defaults to ``Q``."""
    if kind == "bahdanau":
        return BahdanauAttention(query_size, memory_size, attention_size or query_size)
    if kind == "luong-dot":
        return LuongDotAttention(query_size, memory_size)
    if kind == "luong-general":
        return LuongGeneralAttention(query_size, memory_size)
    raise ValueError(f"attention must be one of {ATTENTION_KINDS}, got {kind!r}")
