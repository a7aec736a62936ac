"""The attention decoder's batched greedy and beam search (memory shared by each input's
hypotheses, finished rows leaving the batch) against a plain reference: one input at a time,
every hypothesis stepped on its own one-row state (the memory not shared, nothing batched),
candidates ranked by a stable sort in Python."""

from __future__ import annotations

import pytest
import torch

from rnnkit.models import Seq2Seq
from rnnkit.models.attention_decoder import AttentionDecoder


def reference_beam(
    model: AttentionDecoder,
    source: torch.Tensor,
    max_len: int,
    beam: int,
    alpha: float,
    forbidden: tuple[int, ...],
) -> tuple[list[int], float, float]:
    """(tokens without eos, summed log-probability, penalised score) of one source ``(S,)``.

    The rules of ``rnnkit.decoding.beam``: of the best ``2K`` extensions, those among the best
    ``K`` ending in eos (all of them at the last step) finish, ranked by
    ``log_prob / ((5 + length) / 6) ** alpha``; the best ``K`` others live on; the search stops
    after ``K`` finished hypotheses or ``max_len`` steps.
    """
    state = model.encode(source.unsqueeze(0), torch.tensor([len(source)]))
    live = [([], 0.0, state)]  # tokens, log-probability, one-row state
    best: tuple[float, list[int], float] | None = None
    finished = 0
    for t in range(max_len):
        candidates = []
        for parent, (tokens, log_prob, hypothesis_state) in enumerate(live):
            last = tokens[-1] if tokens else model.bos_id
            log_probs, new_state = model.step(torch.tensor([last]), hypothesis_state, forbidden)
            for token, value in enumerate(log_probs[0].tolist()):
                if value != float("-inf"):
                    candidates.append((log_prob + value, parent, token, new_state))
        candidates.sort(key=lambda c: -c[0])  # stable: ties keep (parent, token) order
        top = candidates[: 2 * beam]
        for score, parent, token, _ in top[:beam]:
            if token == model.eos_id or t + 1 == max_len:
                finished += 1
                penalised = score / ((5 + t + 1) / 6) ** alpha
                tokens = live[parent][0] + ([] if token == model.eos_id else [token])
                if best is None or penalised > best[0]:
                    best = (penalised, tokens, score)
        if finished >= beam or t + 1 == max_len:
            break
        live = [
            (live[parent][0] + [token], score, new_state)
            for score, parent, token, new_state in top
            if token != model.eos_id
        ][:beam]
    assert best is not None
    return best[1], best[2], best[0]


@pytest.mark.parametrize("attention", ["bahdanau", "luong-general", "none"])
def test_batched_search_matches_a_one_hypothesis_at_a_time_reference(attention: str) -> None:
    torch.manual_seed(0)
    model = Seq2Seq(
        20,
        15,
        embedding_size=8,
        encoder_hidden=8,
        encoder_layers=1,
        decoder_hidden=12,
        attention=attention,
        tie_embeddings=attention == "bahdanau",
    ).eval()
    with torch.no_grad():  # eos likely enough that hypotheses end at different steps
        if model.output is None:
            model.output_bias[model.eos_id] = 2.0
        else:
            model.output.bias[model.eos_id] = 2.0
    lengths = torch.tensor([5, 3, 7, 4])
    sources = torch.randint(4, 20, (4, 7))
    sources[torch.arange(7) >= lengths.unsqueeze(1)] = 0
    max_len = torch.tensor([6, 4, 9, 1])
    forbidden = (1,)
    for beam, alpha in [(1, 0.0), (3, 1.0), (4, 0.0)]:  # beam 1: greedy search
        result = model.generate(
            sources, lengths, max_len, beam_size=beam, length_penalty=alpha, forbidden_ids=forbidden
        )
        for row in range(4):
            tokens, log_prob, score = reference_beam(
                model,
                sources[row, : lengths[row]],
                int(max_len[row]),
                beam,
                alpha,
                forbidden,
            )
            assert result.sequences()[row] == tokens
            assert result.log_probs[row].item() == pytest.approx(log_prob, abs=1e-5)
            assert result.scores[row].item() == pytest.approx(score, abs=1e-5)
