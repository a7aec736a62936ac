"""Attention scores, masking and context against a direct per-position computation."""

from __future__ import annotations

import pytest
import torch

from rnnkit.layers.attention import (
    BahdanauAttention,
    LuongDotAttention,
    LuongGeneralAttention,
    make_attention,
)

B, S, Q, M, A = 3, 6, 5, 5, 7
LENGTHS = [6, 2, 4]


def batch(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    query = torch.randn(B, Q, generator=generator, dtype=torch.float64)
    memory = torch.randn(B, S, M, generator=generator, dtype=torch.float64)
    mask = torch.arange(S).unsqueeze(0) < torch.tensor(LENGTHS).unsqueeze(1)
    return query, memory, mask


@torch.no_grad()
def direct_score(attention, q: torch.Tensor, m: torch.Tensor) -> float:
    """One position's score written straight from the papers' formulas, vectors only."""
    if isinstance(attention, BahdanauAttention):
        w_q = attention.query_projection.weight
        w_m, b_m = attention.memory_projection.weight, attention.memory_projection.bias
        v = attention.v.weight[0]
        return float(v @ torch.tanh(w_q @ q + w_m @ m + b_m))
    if isinstance(attention, LuongGeneralAttention):
        return float(q @ (attention.memory_projection.weight @ m))
    return float(q @ m)


def make(kind: str):
    torch.manual_seed(1)
    return make_attention(kind, Q, M, A).double()


@pytest.mark.parametrize("kind", ["bahdanau", "luong-dot", "luong-general"])
def test_matches_direct_computation_with_padding(kind):
    attention = make(kind)
    query, memory, mask = batch()
    context, weights = attention(query, memory, mask)
    for b, length in enumerate(LENGTHS):
        scores = torch.tensor(
            [direct_score(attention, query[b], memory[b, s]) for s in range(length)],
            dtype=torch.float64,
        )
        expected = torch.exp(scores - scores.max())
        expected = expected / expected.sum()
        torch.testing.assert_close(weights[b, :length].double(), expected, rtol=1e-5, atol=1e-6)
        assert torch.all(weights[b, length:] == 0)  # exactly zero at padding
        expected_context = (expected.unsqueeze(1) * memory[b, :length]).sum(0)
        torch.testing.assert_close(context[b], expected_context, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["bahdanau", "luong-dot", "luong-general"])
def test_weights_sum_to_one_and_padding_values_do_not_matter(kind):
    attention = make(kind)
    query, memory, mask = batch()
    context, weights = attention(query, memory, mask)
    torch.testing.assert_close(weights.sum(-1).double(), torch.ones(B, dtype=torch.float64))
    garbage = memory.clone()
    garbage[~mask] = 1e3 * torch.randn_like(garbage[~mask])
    context2, weights2 = attention(query, garbage, mask)
    torch.testing.assert_close(weights2, weights)
    torch.testing.assert_close(context2, context)


def test_prepared_keys_give_the_same_result():
    attention = make("bahdanau")
    query, memory, mask = batch()
    direct = attention(query, memory, mask)
    prepared = attention(query, memory, mask, keys=attention.prepare(memory))
    torch.testing.assert_close(prepared, direct)


def test_without_mask_every_position_counts():
    attention = make("luong-dot")
    query, memory, _ = batch()
    _, weights = attention(query, memory)
    assert bool((weights > 0).all())


def test_luong_dot_needs_equal_sizes_and_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="query_size == memory_size"):
        LuongDotAttention(4, 6)
    with pytest.raises(ValueError, match="attention must be one of"):
        make_attention("cosine", 4, 4)
