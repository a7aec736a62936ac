"""Greedy and beam search against exhaustive search over a tiny vocabulary.

The step function is scripted: the next-token distribution of a hypothesis is drawn from an RNG
seeded by its batch row and its whole prefix, so it does not depend on how the search lays out or
reorders its hypotheses, and brute force can score every sequence independently.
"""

from __future__ import annotations

import math
from itertools import product

import numpy as np
import pytest
import torch

from rnnkit.decoding import ban_repeated_ngrams, beam_search, greedy_search

BOS = 0


class ScriptedModel:
    """``log p(token | row, prefix)`` from a seeded RNG; the state records each prefix."""

    def __init__(self, vocab_size: int, seed: int, sharpness: float = 2.0) -> None:
        self.vocab_size, self.seed, self.sharpness = vocab_size, seed, sharpness
        self._cache: dict[tuple[int, ...], np.ndarray] = {}

    def log_probs(self, row: int, prefix: tuple[int, ...]) -> np.ndarray:
        key = (row, *prefix)
        if key not in self._cache:
            rng = np.random.default_rng([self.seed, row, len(prefix), *prefix])
            logits = self.sharpness * rng.normal(size=self.vocab_size)
            log_z = np.log(np.exp(logits - logits.max()).sum()) + logits.max()
            self._cache[key] = (logits - log_z).astype(np.float32)
        return self._cache[key]

    def initial_state(self, batch_size: int, max_len: int) -> torch.Tensor:
        """``(B, 3 + max_len)``: row id, whether bos was fed, prefix length, prefix tokens."""
        state = torch.zeros(batch_size, 3 + max_len, dtype=torch.long)
        state[:, 0] = torch.arange(batch_size)
        return state

    def step(self, tokens: torch.Tensor, state: torch.Tensor):
        state = state.clone()
        rows = []
        for n, token in enumerate(tokens.tolist()):
            if state[n, 1] == 0:  # the first token fed is bos, not part of the prefix
                assert token == BOS
                state[n, 1] = 1
            else:
                length = int(state[n, 2])
                state[n, 3 + length] = token
                state[n, 2] = length + 1
            prefix = tuple(state[n, 3 : 3 + int(state[n, 2])].tolist())
            rows.append(self.log_probs(int(state[n, 0]), prefix))
        return torch.from_numpy(np.stack(rows)), state


def length_penalty(length: int, alpha: float) -> float:
    return ((5 + length) / 6) ** alpha


def has_repeated_ngram(tokens: tuple[int, ...], n: int) -> bool:
    grams = [tokens[i : i + n] for i in range(len(tokens) - n + 1)]
    return len(grams) != len(set(grams))


def brute_force(
    model: ScriptedModel, row: int, eos: int, max_len: int, alpha: float = 0.0, no_repeat: int = 0
) -> tuple[list[int], float]:
    """The best (content tokens, summed log-prob) over every sequence of at most max_len tokens."""
    best: tuple[float, list[int], float] = (-math.inf, [], 0.0)

    def visit(prefix: tuple[int, ...], log_prob: float) -> None:
        nonlocal best
        next_log_probs = model.log_probs(row, prefix)
        for token in range(model.vocab_size):
            sequence = prefix + (token,)
            if no_repeat and has_repeated_ngram(sequence, no_repeat):
                continue
            total = log_prob + float(next_log_probs[token])
            if token == eos or len(sequence) == max_len:
                score = total / length_penalty(len(sequence), alpha)
                if score > best[0]:
                    content = list(prefix) if token == eos else list(sequence)
                    best = (score, content, total)
            else:
                visit(sequence, total)

    visit((), 0.0)
    return best[1], best[2]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_wide_beam_finds_the_exhaustive_best(seed: int, alpha: float) -> None:
    model = ScriptedModel(vocab_size=3, seed=seed)
    eos, limits = 2, torch.tensor([4, 2, 3])
    result = beam_search(
        model.step, model.initial_state(3, 4), 3, BOS, eos, beam_size=32, max_len=limits,
        length_penalty=alpha,
    )  # fmt: skip
    for row in range(3):
        expected, expected_log_prob = brute_force(model, row, eos, int(limits[row]), alpha)
        assert result.sequences()[row] == expected
        assert result.log_probs[row].item() == pytest.approx(expected_log_prob, abs=1e-5)
        ended_with_eos = len(expected) < int(limits[row])
        penalty = length_penalty(len(expected) + ended_with_eos, alpha)
        assert result.scores[row].item() == pytest.approx(expected_log_prob / penalty, abs=1e-5)


@pytest.mark.parametrize("seed", [0, 5])
def test_wide_beam_with_no_repeat_ngram_finds_the_constrained_best(seed: int) -> None:
    model = ScriptedModel(vocab_size=3, seed=seed, sharpness=0.5)
    result = beam_search(
        model.step, model.initial_state(2, 5), 2, BOS, 2, beam_size=64, max_len=5,
        no_repeat_ngram=2,
    )  # fmt: skip
    for row in range(2):
        expected, _ = brute_force(model, row, 2, 5, no_repeat=2)
        assert result.sequences()[row] == expected


def test_beam_of_two_beats_greedy_on_a_garden_path() -> None:
    # Step 1: A (0.6) or B (0.4). After A every token is about equally likely; after B, eos is
    # almost certain. Greedy takes A; the best sequence is B eos (0.4 * 0.9 > 0.6 * 0.34).
    a, b, eos = 1, 2, 3
    table = {
        (): [1e-9, 0.6, 0.4, 1e-9],
        (a,): [0.33, 0.33 - 2e-9, 1e-9, 0.34],
        (b,): [0.05, 0.05 - 2e-9, 1e-9, 0.9],
    }

    def step(tokens: torch.Tensor, prefixes: torch.Tensor):
        rows = []
        for token in tokens.tolist():
            key = () if token == BOS else (token,)
            rows.append(torch.tensor(table.get(key, [0.25] * 4)).log())
        return torch.stack(rows), prefixes

    state = torch.zeros(1, 1)
    greedy = greedy_search(step, state, 1, BOS, eos, max_len=2)
    beam = beam_search(step, state, 1, BOS, eos, beam_size=2, max_len=2)
    assert greedy.sequences() == [[a]]
    assert beam.sequences() == [[b]]
    assert beam.log_probs.item() == pytest.approx(math.log(0.4 * 0.9), rel=1e-5)
    assert greedy.log_probs.item() == pytest.approx(math.log(0.6 * 0.34), rel=1e-5)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("no_repeat", [0, 2])
def test_beam_of_one_equals_greedy(seed: int, no_repeat: int) -> None:
    model = ScriptedModel(vocab_size=7, seed=seed, sharpness=1.0)
    limits = torch.tensor([6, 1, 4, 0, 8])
    state = model.initial_state(5, 8)
    greedy = greedy_search(model.step, state, 5, BOS, 3, limits, no_repeat_ngram=no_repeat)
    beam = beam_search(model.step, state, 5, BOS, 3, 1, limits, no_repeat_ngram=no_repeat)
    assert torch.equal(beam.tokens, greedy.tokens)
    assert torch.equal(beam.lengths, greedy.lengths)
    torch.testing.assert_close(beam.log_probs, greedy.log_probs)
    assert greedy.lengths[3] == 0 and greedy.log_probs[3] == 0  # max_len 0: nothing generated


def test_greedy_against_a_python_loop() -> None:
    model = ScriptedModel(vocab_size=6, seed=11, sharpness=1.0)
    result = greedy_search(model.step, model.initial_state(3, 7), 3, BOS, 4, max_len=7)
    for row in range(3):
        prefix: tuple[int, ...] = ()
        total = 0.0
        while len(prefix) < 7:
            log_probs = model.log_probs(row, prefix)
            token = int(np.argmax(log_probs))
            total += float(log_probs[token])
            if token == 4:
                break
            prefix += (token,)
        assert result.sequences()[row] == list(prefix)
        assert result.log_probs[row].item() == pytest.approx(total, abs=1e-5)


def test_structured_state_with_different_row_dims_is_reordered_consistently() -> None:
    """A dict state holding the prefix twice, rows in dim 0 and in dim 1 of a 3-d tensor."""
    model = ScriptedModel(vocab_size=4, seed=3)

    def step(tokens: torch.Tensor, state: dict):
        by_row = state["rows_first"]
        by_layer = state["nested"][0]  # (2, N, W): rows in dim 1, as an LSTM state
        assert torch.equal(by_layer[0], by_row) and torch.equal(by_layer[1], by_row)
        log_probs, new = model.step(tokens, by_row)
        return log_probs, {"rows_first": new, "nested": (torch.stack([new, new]), None)}

    plain = model.initial_state(2, 5)
    state = {"rows_first": plain, "nested": (torch.stack([plain, plain]), None)}
    dims = {"rows_first": 0, "nested": (1, 0)}
    structured = beam_search(step, state, 2, BOS, 1, beam_size=3, max_len=5, state_dims=dims)
    reference = beam_search(model.step, plain, 2, BOS, 1, beam_size=3, max_len=5)
    assert torch.equal(structured.tokens, reference.tokens)
    assert torch.equal(structured.log_probs, reference.log_probs)


def test_ban_repeated_ngrams_against_python() -> None:
    generator = torch.Generator().manual_seed(0)
    history = torch.randint(0, 4, (50, 9), generator=generator)
    log_probs = torch.zeros(50, 4)
    for n in (1, 2, 3):
        banned = torch.isinf(ban_repeated_ngrams(log_probs, history, n))
        for row in range(50):
            tokens = tuple(history[row].tolist())
            for token in range(4):
                earlier = {tokens[i : i + n] for i in range(len(tokens) - n + 1)}
                expected = (tokens + (token,))[-n:] in earlier
                assert bool(banned[row, token]) == expected, (n, tokens, token)


def test_max_len_counts_the_eos_and_truncates() -> None:
    # A model that never emits eos: every row stops at exactly max_len content tokens.
    model = ScriptedModel(vocab_size=4, seed=0)

    def never_eos(tokens, state):
        log_probs, state = model.step(tokens, state)
        return log_probs.index_fill(1, torch.tensor([3]), -math.inf), state

    limits = torch.tensor([1, 3, 5])
    for search in (
        lambda: greedy_search(never_eos, model.initial_state(3, 5), 3, BOS, 3, limits),
        lambda: beam_search(never_eos, model.initial_state(3, 5), 3, BOS, 3, 2, limits),
    ):
        assert search().lengths.tolist() == [1, 3, 5]


def test_exhaustive_oracle_is_itself_exhaustive() -> None:
    """brute_force agrees with scoring every sequence in a flat enumeration."""
    model = ScriptedModel(vocab_size=3, seed=9)
    best, best_score = None, -math.inf
    for length in range(1, 4):
        for tokens in product(range(3), repeat=length):
            if 2 in tokens[:-1] or (length < 3 and tokens[-1] != 2):
                continue
            total = sum(float(model.log_probs(0, tokens[:i])[t]) for i, t in enumerate(tokens))
            if total > best_score:
                best_score, best = total, [t for t in tokens if t != 2]
    assert brute_force(model, 0, 2, 3)[0] == best
