"""CTC decoding against brute force: every frame path of tiny cases enumerated and collapsed."""

from __future__ import annotations

import itertools
import json
import math
import time
from collections import defaultdict

import numpy as np
import pytest
import torch

from rnnkit.decoding.ctc import (
    END,
    CharNgramLM,
    WordListLM,
    ctc_beam_search_batch,
    ctc_greedy,
    ctc_greedy_alignment,
    ctc_prefix_beam_search,
)


def _random_log_probs(rng: np.random.Generator, T: int, V: int, sharpness: float = 2.0):
    logits = rng.normal(size=(T, V)) * sharpness
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


def _collapse(path, blank=0):
    merged = [label for label, _ in itertools.groupby(path)]
    return tuple(label for label in merged if label != blank)


def _brute_force(log_probs: np.ndarray, blank: int = 0) -> dict[tuple[int, ...], float]:
    """log P(y) for every label sequence y: the sum over all V^T frame paths that read y."""
    T, V = log_probs.shape
    totals: dict[tuple[int, ...], float] = defaultdict(lambda: -math.inf)
    for path in itertools.product(range(V), repeat=T):
        score = sum(log_probs[t, label] for t, label in enumerate(path))
        labels = _collapse(path, blank)
        totals[labels] = np.logaddexp(totals[labels], score)
    return dict(totals)


def _lm_score(lm, labels) -> float:
    context = ()
    total = 0.0
    for label in labels:
        total += lm.log_prob(context, label)
        context += (label,)
    return total + lm.log_prob(context, END)


@pytest.mark.parametrize("seed", range(4))
def test_prefix_beam_search_scores_equal_brute_force(seed):
    rng = np.random.default_rng(seed)
    log_probs = _random_log_probs(rng, 5, 3)
    exact = _brute_force(log_probs)
    found = ctc_prefix_beam_search(log_probs, beam=1000, prune_log_prob=None)
    assert {tuple(labels) for labels, _ in found} == set(exact)
    for labels, score in found:
        assert score == pytest.approx(exact[tuple(labels)], abs=1e-9)
    assert tuple(found[0][0]) == max(exact, key=exact.get)
    scores = [score for _, score in found]
    assert scores == sorted(scores, reverse=True)
    assert np.logaddexp.reduce(scores) == pytest.approx(0.0, abs=1e-9)  # all paths accounted


def test_repeated_labels_need_a_blank_between():
    def peaked(path, V=3):
        out = np.full((len(path), V), math.log(1e-4))
        out[np.arange(len(path)), path] = math.log(1 - 2e-4)
        return out

    assert ctc_prefix_beam_search(peaked([1, 1, 1]))[0][0] == [1]
    assert ctc_prefix_beam_search(peaked([1, 0, 1]))[0][0] == [1, 1]
    assert ctc_prefix_beam_search(peaked([1, 1, 0, 1, 2, 2]))[0][0] == [1, 1, 2]
    masked = peaked([1, 0, 1])
    masked[:, 2] = -math.inf  # a label masked out never appears, even without pruning
    found = ctc_prefix_beam_search(masked, beam=50, prune_log_prob=None)
    assert all(2 not in labels and score > -math.inf for labels, score in found)
    log_probs = torch.from_numpy(peaked([1, 0, 1, 2, 2])).float()[None]
    assert ctc_greedy(log_probs, torch.tensor([5])) == [[1, 1, 2]]
    assert ctc_greedy(log_probs, torch.tensor([2])) == [[1]]


def test_greedy_equals_collapse_of_the_argmax_path():
    rng = np.random.default_rng(0)
    log_probs = torch.from_numpy(
        np.stack([_random_log_probs(rng, 30, 5, sharpness=1.0) for _ in range(4)])
    )
    lengths = torch.tensor([30, 17, 1, 0])
    decoded = ctc_greedy(log_probs, lengths, blank=0)
    for row in range(4):
        frames = log_probs[row].tolist()[: int(lengths[row])]
        path = [max(range(5), key=lambda v, f=f: f[v]) for f in frames]
        assert ctc_greedy_alignment(log_probs[row][: int(lengths[row])]) == path
        assert tuple(decoded[row]) == _collapse(path)
    assert decoded[3] == []
    # Another blank id: 4 is removed instead of 0.
    path = log_probs[0].argmax(-1).tolist()
    assert tuple(ctc_greedy(log_probs[:1], lengths[:1], blank=4)[0]) == _collapse(path, 4)


def test_char_ngram_lm_is_a_proper_distribution_and_round_trips():
    rng = np.random.default_rng(0)
    sequences = [rng.integers(1, 5, size=rng.integers(0, 8)).tolist() for _ in range(40)]
    vocab = 6  # label 5 and blank 0 never occur: they still get probability
    for order in (1, 2, 3):
        lm = CharNgramLM.fit(sequences, order=order, vocab_size=vocab)
        contexts = [(), (1,), (2, 3), (4, 4, 4), (5, 5), tuple(sequences[0])]
        for context in contexts:
            probs = [math.exp(lm.log_prob(context, token)) for token in [*range(vocab), END]]
            assert sum(probs) == pytest.approx(1.0, abs=1e-12)
            assert min(probs) > 0
        restored = CharNgramLM.from_dict(json.loads(json.dumps(lm.to_dict())))
        for context in contexts:
            for token in [*range(vocab), END]:
                assert restored.log_prob(context, token) == lm.log_prob(context, token)
    # The model learns: after "1 2" (always followed by 3 here) 3 is the most likely.
    lm = CharNgramLM.fit([[1, 2, 3]] * 10 + [[2, 1]] * 3, order=3, vocab_size=4)
    assert max([*range(4), END], key=lambda token: lm.log_prob((1, 2), token)) == 3
    assert lm.log_prob((1, 2, 3), END) > lm.log_prob((1, 2, 3), 1)


def test_unigram_witten_bell_by_hand():
    # Unigram counts: 1 -> 2, 2 -> 1, END -> 2 (5 tokens, 3 types); base 1 / (V + 1) = 1/4.
    lm = CharNgramLM.fit([[1, 1], [2]], order=1, vocab_size=3)
    assert math.exp(lm.log_prob((), 1)) == pytest.approx((2 + 3 / 4) / (5 + 3))
    assert math.exp(lm.log_prob((), 0)) == pytest.approx((0 + 3 / 4) / (5 + 3))
    assert math.exp(lm.log_prob((), END)) == pytest.approx((2 + 3 / 4) / (5 + 3))


@pytest.mark.parametrize("seed", range(3))
def test_beam_search_with_lm_finds_the_brute_force_best(seed):
    rng = np.random.default_rng(seed)
    T, V = 4, 4
    log_probs = _random_log_probs(rng, T, V, sharpness=1.0)
    exact = _brute_force(log_probs)
    lms = [
        CharNgramLM.fit([[1, 2], [2, 3, 1], [1]], order=2, vocab_size=V),
        WordListLM([[1, 1], [2]], separator=3, oov_penalty=-3.0),
    ]
    for lm, weight, bonus in itertools.product(lms, (0.5, 2.0), (0.0, 1.5)):
        best = max(exact, key=lambda y: exact[y] + weight * _lm_score(lm, y) + bonus * len(y))
        found = ctc_prefix_beam_search(
            log_probs, beam=1000, prune_log_prob=None, lm=lm, lm_weight=weight,
            insertion_bonus=bonus,
        )  # fmt: skip
        assert tuple(found[0][0]) == best
        expected = exact[best] + weight * _lm_score(lm, best) + bonus * len(best)
        assert found[0][1] == pytest.approx(expected, abs=1e-9)


def test_word_list_steers_away_from_a_non_word():
    # Labels: 0 blank, 1 space, 2 "c", 3 "a", 4 "t", 5 "b". Acoustics say "c b t" narrowly.
    frames = [{2: 0.9}, {5: 0.5, 3: 0.4}, {4: 0.9}]
    log_probs = np.full((3, 6), 1e-3)
    for t, probs in enumerate(frames):
        for label, p in probs.items():
            log_probs[t, label] = p
    log_probs = np.log(log_probs / log_probs.sum(axis=1, keepdims=True))
    assert ctc_prefix_beam_search(log_probs)[0][0] == [2, 5, 4]
    lm = WordListLM([[2, 3, 4], [3]], separator=1, oov_penalty=-10.0)
    assert ctc_prefix_beam_search(log_probs, lm=lm, lm_weight=1.0)[0][0] == [2, 3, 4]
    assert lm.log_prob((2, 3, 4), 1) == 0.0 and lm.log_prob((2, 3, 4, 1), 3) == 0.0
    assert lm.log_prob((2, 3), END) == -10.0 and lm.log_prob((2, 5), 4) == -10.0
    restored = WordListLM.from_dict(json.loads(json.dumps(lm.to_dict())))
    assert restored.to_dict() == lm.to_dict()


def test_batch_search_and_speed():
    rng = np.random.default_rng(0)
    # Peaked frames like a trained model's: mostly blank, sometimes a label.
    logits = rng.normal(size=(2, 200, 12)) * 3
    logits[:, :, 0] += 4
    log_probs = torch.log_softmax(torch.from_numpy(logits), dim=-1).float()
    lengths = torch.tensor([200, 120])
    start = time.perf_counter()
    hypotheses = ctc_beam_search_batch(log_probs, lengths, beam=8)
    elapsed = time.perf_counter() - start
    assert hypotheses[1] == ctc_prefix_beam_search(log_probs[1, :120], beam=8)[0][0]
    assert elapsed < 0.5, elapsed  # a few ms each when the machine is idle


def test_scores_equal_torch_ctc_loss_on_longer_inputs():
    rng = np.random.default_rng(5)
    log_probs = _random_log_probs(rng, 8, 3, sharpness=1.5)
    found = ctc_prefix_beam_search(log_probs, beam=10_000, prune_log_prob=None)
    lp = torch.from_numpy(log_probs)[:, None, :]
    for labels, score in found[:50]:
        loss = torch.nn.functional.ctc_loss(
            lp, torch.tensor([labels], dtype=torch.long), torch.tensor([8]),
            torch.tensor([len(labels)]), blank=0, reduction="sum",
        )  # fmt: skip
        assert score == pytest.approx(-loss.item(), abs=1e-9)


def _reference_beam_search(log_probs, beam, lm=None, lm_weight=0.0, bonus=0.0):
    """The textbook prefix beam search, written plainly: no pruning but the beam."""
    beams = {(): (0.0, -math.inf)}
    for frame in log_probs:
        nxt = defaultdict(lambda: [-math.inf, -math.inf])
        for prefix, (pb, pnb) in beams.items():
            nxt[prefix][0] = np.logaddexp(nxt[prefix][0], np.logaddexp(pb, pnb) + frame[0])
            for c in range(1, len(frame)):
                added = (lm_weight * lm.log_prob(prefix, c) if lm else 0.0) + bonus
                new = prefix + (c,)
                if prefix and prefix[-1] == c:
                    nxt[prefix][1] = np.logaddexp(nxt[prefix][1], pnb + frame[c])
                    nxt[new][1] = np.logaddexp(nxt[new][1], pb + frame[c] + added)
                else:
                    total = np.logaddexp(pb, pnb)
                    nxt[new][1] = np.logaddexp(nxt[new][1], total + frame[c] + added)
        ranked = sorted(nxt.items(), key=lambda item: -np.logaddexp(*item[1]))
        beams = {prefix: tuple(p) for prefix, p in ranked[:beam]}
    final = [
        (list(prefix), np.logaddexp(*p) + (lm_weight * lm.log_prob(prefix, END) if lm else 0.0))
        for prefix, p in beams.items()
    ]
    return sorted(final, key=lambda item: -item[1])


@pytest.mark.parametrize("beam", [1, 3, 8])
def test_narrow_beams_equal_the_textbook_search(beam):
    rng = np.random.default_rng(beam)
    lm = CharNgramLM.fit([rng.integers(1, 6, size=6).tolist() for _ in range(20)], 3, vocab_size=6)
    for use_lm in (False, True):
        log_probs = _random_log_probs(rng, 40, 6, sharpness=2.0)
        kwargs = {"lm": lm, "lm_weight": 0.7, "insertion_bonus": 0.3} if use_lm else {}
        found = ctc_prefix_beam_search(log_probs, beam=beam, prune_log_prob=None, **kwargs)
        expected = _reference_beam_search(
            log_probs, beam, lm if use_lm else None, 0.7 if use_lm else 0.0, 0.3 if use_lm else 0.0
        )
        assert [labels for labels, _ in found] == [labels for labels, _ in expected]
        for (_, score), (_, reference) in zip(found, expected, strict=True):
            assert score == pytest.approx(reference, abs=1e-9)
