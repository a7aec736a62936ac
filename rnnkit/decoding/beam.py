"""Batched beam search over any step function.

Every batch row keeps ``K = beam_size`` live hypotheses; all ``B * K`` of them go through ``step``
together (hypothesis ``k`` of row ``b`` is row ``b * K + k`` of the decoder's state). At each step:

1. every live hypothesis is extended by every token, scored by its summed log-probability;
2. of the ``2K`` best extensions of a row, those among the best ``K`` that end in eos (or all of
   the best ``K`` at the row's last allowed step) are *finished*: they are ranked by
   ``log_prob / gnmt_length_penalty(length, length_penalty)`` and the best one is kept;
3. the ``K`` best extensions that do not end in eos become the next live hypotheses.

A row stops once it has finished ``K`` hypotheses or reached its ``max_len``; its hypotheses then
leave the decoder's state, so later steps run only the rows still searching (the bookkeeping
tensors keep all ``B`` rows). Taking the best ``K``
of all extensions before setting finished ones aside is what makes ``beam_size=1`` pick exactly the
tokens of greedy search. The length penalty is GNMT's (Wu et al. 2016):
``((5 + length) / 6) ** alpha`` with ``alpha = length_penalty`` and ``length`` counting the eos;
``alpha = 0`` ranks by the plain summed log-probability, larger values favour longer outputs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnkit.decoding.common import SearchResult, StepFn, ban_repeated_ngrams, max_lengths
from rnnkit.decoding.state import StateDims, device_of, repeat_rows, select_rows


def gnmt_length_penalty(length: Tensor | int, alpha: float) -> Tensor | float:
    """GNMT's length penalty ``((5 + length) / 6) ** alpha``."""
    return ((5 + length) / 6) ** alpha


@torch.no_grad()
def beam_search(
    step: StepFn,
    initial_state: Any,
    batch_size: int,
    bos_id: int,
    eos_id: int,
    beam_size: int,
    max_len: int | Tensor,
    length_penalty: float = 0.0,
    no_repeat_ngram: int = 0,
    *,
    state_dims: StateDims = 0,
    pad_id: int = 0,
) -> SearchResult:
    """The best hypothesis of each of ``batch_size`` rows, found by beam search.

    ``step(tokens (N,), state) -> (log_probs (N, V), state)`` with ``N = A * K`` for the ``A <= B``
    rows still searching (each row's hypotheses in turn, rows stepped independently);
    ``initial_state`` has B rows in
    the dims declared by ``state_dims`` (see ``rnnkit.decoding.state``) and is repeated K times per
    row. ``max_len``: an int or a ``(B,)`` tensor, the most tokens a row may emit, eos included.
    ``no_repeat_ngram = n > 0`` forbids any n-gram from occurring twice in a hypothesis.
    """
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    device = device_of(initial_state)
    limits = max_lengths(max_len, batch_size, device)
    total_steps = int(limits.max()) if batch_size else 0
    k = beam_size
    rows = torch.arange(batch_size, device=device)

    # The best finished hypothesis of each row so far.
    best_score = torch.full((batch_size,), float("-inf"), device=device)
    best_log_prob = torch.zeros(batch_size, device=device)
    best_tokens = torch.full((batch_size, total_steps), pad_id, dtype=torch.long, device=device)
    best_length = torch.zeros(batch_size, dtype=torch.long, device=device)
    finished_count = torch.zeros(batch_size, dtype=torch.long, device=device)
    done = limits == 0

    # Live hypotheses: their tokens (B, K, t) and summed log-probabilities (B, K). At the start
    # only hypothesis 0 is live, so the first step does not pick the same token K times.
    history = torch.full((batch_size, k, total_steps), pad_id, dtype=torch.long, device=device)
    live_score = torch.full((batch_size, k), float("-inf"), device=device)
    live_score[:, 0] = 0.0
    last = torch.full((batch_size * k,), bos_id, dtype=torch.long, device=device)
    state = repeat_rows(initial_state, k, state_dims)
    active = rows  # the rows the decoder's state holds (A of them), ascending

    for t in range(total_steps):
        if done.all():
            break
        log_probs, state = step(last, state)  # (A * K, V)
        vocab_size = log_probs.shape[-1]
        searching = len(active)
        if no_repeat_ngram > 0:
            log_probs = ban_repeated_ngrams(
                log_probs.float(), history[active, :, :t].reshape(searching * k, t), no_repeat_ngram
            )
        # Only a hypothesis's own best 2K tokens can be among its row's best 2K extensions, so
        # rank within each hypothesis first: this never builds a (B, K, V) tensor of sums.
        per_hypothesis = min(2 * k, vocab_size)
        top_log_probs, top_tokens = (
            log_probs.float().view(searching, k, vocab_size).topk(per_hypothesis, dim=-1)
        )
        if searching < batch_size:  # finished rows have no live hypotheses: -inf
            all_log_probs = top_log_probs.new_full((batch_size, k, per_hypothesis), -torch.inf)
            all_tokens = top_tokens.new_full((batch_size, k, per_hypothesis), pad_id)
            all_log_probs[active], all_tokens[active] = top_log_probs, top_tokens
            top_log_probs, top_tokens = all_log_probs, all_tokens
        extended = (live_score.unsqueeze(-1) + top_log_probs).view(batch_size, -1)
        num_candidates = min(2 * k, k * per_hypothesis)
        cand_score, cand_index = extended.topk(num_candidates, dim=1)  # (B, 2K)
        cand_parent = cand_index // per_hypothesis  # which live hypothesis each one extends
        cand_token = top_tokens.view(batch_size, -1).gather(1, cand_index)
        cand_is_eos = cand_token == eos_id

        # Set aside the finished hypotheses among each row's best K extensions.
        in_top_k = torch.arange(num_candidates, device=device) < k
        last_step = (t + 1 >= limits).unsqueeze(1)
        finishing = in_top_k & (cand_is_eos | last_step) & cand_score.isfinite() & ~done[:, None]
        penalised = cand_score / gnmt_length_penalty(t + 1, length_penalty)
        ranked = torch.where(finishing, penalised, -torch.inf)
        row_best, row_best_at = ranked.max(dim=1)
        improves = row_best > best_score
        if improves.any():
            parent = cand_parent[rows, row_best_at]
            token = cand_token[rows, row_best_at]
            ends_in_eos = token == eos_id
            new_tokens = history[rows, parent].clone()
            new_tokens[:, t] = torch.where(ends_in_eos, pad_id, token)
            chosen = improves.unsqueeze(1)
            best_tokens = torch.where(chosen, new_tokens, best_tokens)
            best_length = torch.where(improves, t + 1 - ends_in_eos.long(), best_length)
            best_score = torch.where(improves, row_best, best_score)
            best_log_prob = torch.where(improves, cand_score[rows, row_best_at], best_log_prob)
        finished_count += finishing.sum(dim=1)
        done = done | (finished_count >= k) | last_step.squeeze(1)

        # The best K extensions that do not end in eos live on (stable order of rank).
        rank_key = cand_is_eos.long() * num_candidates + torch.arange(num_candidates, device=device)
        keep = rank_key.argsort(dim=1)[:, :k]  # (B, K): num_candidates >= K always
        dead = cand_is_eos.gather(1, keep) | done[:, None]  # eos only when fewer than K others
        live_score = cand_score.gather(1, keep).masked_fill(dead, -torch.inf)
        parent = cand_parent.gather(1, keep)
        token = cand_token.gather(1, keep)
        history = history.gather(1, parent.unsqueeze(-1).expand(-1, -1, total_steps))
        history[:, :, t] = token

        # The next state: each live hypothesis's parent row, of the rows still searching.
        still = (~done)[active]  # (A,)
        shrinks = not bool(still.all())
        kept = still.nonzero().squeeze(1) if shrinks else torch.arange(searching, device=device)
        active = active[kept]
        flat_parent = (kept.unsqueeze(1) * k + parent[active]).view(-1)
        state = select_rows(state, flat_parent, state_dims, kept if shrinks else None)
        last = token[active].reshape(-1)

    return SearchResult(best_tokens, best_length, best_log_prob, best_score)
