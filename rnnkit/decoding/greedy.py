"""Greedy search: at every step take the most probable next token."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnkit.decoding.common import SearchResult, StepFn, ban_repeated_ngrams, max_lengths
from rnnkit.decoding.state import StateDims, device_of


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

    ``step(tokens (B,), state) -> (log_probs (B, V), state)`` runs the decoder one step;
    ``initial_state`` has B rows (``state_dims`` is accepted for symmetry with ``beam_search``,
    greedy search never reorders rows). ``max_len`` is an int or a ``(B,)`` tensor counting eos.
    A row keeps being fed to ``step`` after it finishes; its extra outputs are ignored.
    """
    del state_dims  # rows are never reordered
    device = device_of(initial_state)
    limits = max_lengths(max_len, batch_size, device)
    total_steps = int(limits.max()) if batch_size else 0
    tokens = torch.full((batch_size, total_steps), pad_id, dtype=torch.long, device=device)
    lengths = torch.zeros(batch_size, dtype=torch.long, device=device)
    log_probs_sum = torch.zeros(batch_size, device=device)
    finished = limits == 0
    last = torch.full((batch_size,), bos_id, dtype=torch.long, device=device)
    state = initial_state
    for t in range(total_steps):
        if finished.all():
            break
        log_probs, state = step(last, state)
        log_probs = ban_repeated_ngrams(log_probs, tokens[:, :t], no_repeat_ngram)
        best_log_prob, best = log_probs.max(dim=-1)
        running = ~finished
        log_probs_sum += torch.where(running, best_log_prob.float(), 0.0)
        emits_content = running & (best != eos_id)
        tokens[:, t] = torch.where(emits_content, best, pad_id)
        lengths += emits_content.long()
        finished = finished | (best == eos_id) | (t + 1 >= limits)
        last = best
    return SearchResult(tokens, lengths, log_probs_sum, log_probs_sum.clone())
