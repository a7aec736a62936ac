"""Greedy search: at every step take the most probable next token."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnkit.decoding.common import SearchResult, StepFn, ban_repeated_ngrams, max_lengths
from rnnkit.decoding.state import StateDims, device_of, select_rows


@torch.no_grad()
def greedy_search(
    step: StepFn,
    initial_state: Any,
    batch_size: int,
    bos_id: int,
    eos_id: int,
    max_len: int | Tensor,
    *,
    state_dims: StateDims = 0,
    no_repeat_ngram: int = 0,
    pad_id: int = 0,
) -> SearchResult:
    """Decode ``batch_size`` rows greedily from ``bos_id`` until ``eos_id`` or ``max_len`` tokens.

    ``step(tokens (A,), state) -> (log_probs (A, V), state)`` runs the decoder one step for the
    ``A <= B`` rows still decoding (rows stepped independently): a row that finishes leaves the
    state (``select_rows`` with ``state_dims``). ``initial_state`` has B rows; ``max_len`` is an
    int or a ``(B,)`` tensor counting eos.
    """
    device = device_of(initial_state)
    limits = max_lengths(max_len, batch_size, device)
    total_steps = int(limits.max()) if batch_size else 0
    tokens = torch.full((batch_size, total_steps), pad_id, dtype=torch.long, device=device)
    lengths = torch.zeros(batch_size, dtype=torch.long, device=device)
    log_probs_sum = torch.zeros(batch_size, device=device)
    active = (limits > 0).nonzero().squeeze(1)  # the rows the state holds, ascending
    state = initial_state
    if len(active) < batch_size:
        state = select_rows(state, active, state_dims, active)
    last = torch.full((len(active),), bos_id, dtype=torch.long, device=device)
    for t in range(total_steps):
        if len(active) == 0:
            break
        log_probs, state = step(last, state)
        if no_repeat_ngram > 0:
            log_probs = ban_repeated_ngrams(log_probs, tokens[active, :t], no_repeat_ngram)
        best_log_prob, best = log_probs.max(dim=-1)  # (A,)
        log_probs_sum[active] += best_log_prob.float()
        ends = best == eos_id
        tokens[active, t] = torch.where(ends, pad_id, best)
        lengths[active] += (~ends).long()
        still = ~ends & (t + 1 < limits[active])
        if not bool(still.all()):
            kept = still.nonzero().squeeze(1)
            active, best = active[kept], best[kept]
            state = select_rows(state, kept, state_dims, kept)
        last = best
    return SearchResult(tokens, lengths, log_probs_sum, log_probs_sum.clone())
