"""Drawing the next token from a model's logits: temperature, top-k and top-p (nucleus) filtering.

Filters mask the logits they remove with ``-inf`` and leave the others unchanged, so they compose
(``top_k`` then ``top_p``) and the softmax of the result renormalises over the kept set.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def top_k_filter(logits: Tensor, k: int) -> Tensor:
    """Keep the ``k`` largest logits of each row ``(B, V)``; mask the rest with ``-inf``.

    ``k <= 0`` or ``k >= V`` keeps everything. Ties at the k-th value are all kept.
    """
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth_largest = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth_largest, float("-inf"))


def top_p_filter(logits: Tensor, p: float) -> Tensor:
    """Keep the smallest set of most probable tokens whose probability sums to at least ``p``.

    Nucleus sampling (Holtzman et al. 2020) on rows ``(B, V)``. The most probable token is always
    kept; ``p >= 1`` keeps everything.
    """
    if not 0.0 < p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {p}")
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits.float(), dim=-1)
    # A token is dropped when the tokens ranked above it already reach p.
    mass_before = torch.cumsum(probs, dim=-1) - probs
    drop_sorted = mass_before >= p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def sample_next(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One token id per row of ``logits (B, V)``, as a ``(B,)`` int64 tensor.

    ``temperature == 0`` is greedy decoding (argmax; top-k/top-p are then irrelevant). Otherwise the
    logits are divided by ``temperature``, filtered by ``top_k`` (0 = off) and ``top_p`` (1 = off),
    and one token is drawn per row from the softmax using ``generator``.
    """
    if logits.dim() != 2:
        raise ValueError(f"logits must be (B, V), got shape {tuple(logits.shape)}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return logits.argmax(dim=-1)
    scaled = logits.float() / temperature
    scaled = top_p_filter(top_k_filter(scaled, top_k), top_p)
    probs = torch.softmax(scaled, dim=-1)
    uniforms = torch.rand(
        probs.shape[0], 1, generator=generator, device=probs.device, dtype=probs.dtype
    )
    return inverse_cdf_draw(probs, uniforms)


def sample_rows(
    logits: Tensor,
    temperatures: Sequence[float],
    top_ks: Sequence[int],
    top_ps: Sequence[float],
    generators: Sequence[torch.Generator | None],
) -> Tensor:
    """One token id per row of ``logits (B, V)``, row ``b`` drawn with its own settings.

    Each row gets what ``sample_next(logits[b:b+1], temperatures[b], top_ks[b], top_ps[b],
    generators[b])`` gives it (the same filters, the same uniform drawn from the row's generator;
    a greedy row draws none), computed for all rows at once: the filters, softmax and draw run as
    a handful of batched operations instead of a handful per row. Returns ``(B,)`` int64.
    """
    batch, vocab = logits.shape
    if not len(temperatures) == len(top_ks) == len(top_ps) == len(generators) == batch:
        raise ValueError(f"need one setting of each kind per row ({batch} rows)")
    if batch == 1:  # one row: sample_next itself, with fewer operations than the batched form
        return sample_next(logits, temperatures[0], top_ks[0], top_ps[0], generators[0])
    temperature = torch.tensor(temperatures, dtype=torch.float32, device=logits.device)
    if (temperature < 0).any():
        raise ValueError(f"temperatures must be >= 0, got {list(temperatures)}")
    greedy = temperature == 0
    scaled = logits.float() / torch.where(greedy, 1.0, temperature)[:, None]
    k = torch.tensor(top_ks, device=logits.device)
    p = torch.tensor(top_ps, dtype=torch.float32, device=logits.device)
    if not ((p > 0) & (p <= 1)).all():
        raise ValueError(f"top_p must be in (0, 1], got {list(top_ps)}")
    filter_k, filter_p = (k > 0) & (k < vocab), p < 1.0
    if filter_k.any() or filter_p.any():
        sorted_logits, order = torch.sort(scaled, dim=-1, descending=True)
        if filter_k.any():  # the k-th largest of each row, as top_k_filter finds it
            kth = sorted_logits.gather(1, (k.clamp(1, vocab) - 1)[:, None])
            kth = torch.where(filter_k[:, None], kth, float("-inf"))
            scaled = scaled.masked_fill(scaled < kth, float("-inf"))
            sorted_logits, order = torch.sort(scaled, dim=-1, descending=True)
        if filter_p.any():  # as top_p_filter, with each row's p
            probs = torch.softmax(sorted_logits, dim=-1)
            drop_sorted = (torch.cumsum(probs, dim=-1) - probs >= p[:, None]) & filter_p[:, None]
            drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
            scaled = scaled.masked_fill(drop, float("-inf"))
    probs = torch.softmax(scaled, dim=-1)
    uniforms = torch.zeros(batch, 1, device=logits.device)
    for row, generator in enumerate(generators):
        if not greedy[row]:
            uniforms[row] = torch.rand(1, generator=generator, device=logits.device)
    drawn = inverse_cdf_draw(probs, uniforms)
    return torch.where(greedy, logits.argmax(dim=-1), drawn)


def inverse_cdf_draw(probs: Tensor, uniforms: Tensor) -> Tensor:
    """Token ``i`` of each row with ``cdf[i - 1] <= u * cdf[-1] < cdf[i]``: a draw from ``probs``.

    ``probs (B, V)`` (need not sum to one exactly), ``uniforms (B, 1)`` in ``[0, 1)`` ->
    ``(B,)`` int64. At batch 1 this is about 3x faster than ``torch.multinomial``, which matters
    when generating one token at a time. A zero-probability token is never drawn.
    """
    cdf = probs.cumsum(dim=-1)
    index = torch.searchsorted(cdf, uniforms * cdf[:, -1:], right=True).squeeze(-1)
    overflow = index >= probs.shape[-1]  # u * total rounded up to total: take the last
    if overflow.any():  # token with non-zero probability (rare; keeps filtered tokens out)
        last_positive = (probs > 0).long().cumsum(dim=-1).argmax(dim=-1)
        index = torch.where(overflow, last_positive, index)
    return index


def sample_bernoulli(
    logits: Tensor, temperature: float = 1.0, generator: torch.Generator | None = None
) -> Tensor:
    """A 0/1 draw per logit (any shape), as the logits' float dtype.

    Each is 1 with probability ``sigmoid(logit / temperature)``; ``temperature == 0`` gives the
    likelier value (1 where the logit is positive).
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return (logits > 0).to(logits.dtype)
    probs = torch.sigmoid(logits.float() / temperature)
    uniforms = torch.rand(probs.shape, generator=generator, device=probs.device)
    return (uniforms < probs).to(logits.dtype)
