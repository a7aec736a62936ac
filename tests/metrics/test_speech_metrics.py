"""CER and WER against the classic Levenshtein dynamic programme, written here as the oracle."""

from __future__ import annotations

import random

import pytest

from rnnkit.metrics.speech import error_rates, utterance_errors


def _levenshtein(a, b) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def _random_text(rng: random.Random) -> str:
    words = ["ab", "b", "abc", "ca", "c", "bb", "a"]
    return " ".join(rng.choice(words) for _ in range(rng.randint(0, 5)))


def _oracle(references, hypotheses):
    refs = [" ".join(text.split()) for text in references]
    hyps = [" ".join(text.split()) for text in hypotheses]
    char_errors = sum(_levenshtein(r, h) for r, h in zip(refs, hyps, strict=True))
    word_errors = sum(_levenshtein(r.split(), h.split()) for r, h in zip(refs, hyps, strict=True))
    chars, words = sum(map(len, refs)), sum(len(r.split()) for r in refs)
    return char_errors, chars, word_errors, words


@pytest.mark.parametrize("seed", range(5))
def test_corpus_rates_equal_levenshtein(seed):
    rng = random.Random(seed)
    references = [_random_text(rng) for _ in range(30)]
    hypotheses = [
        reference if rng.random() < 0.2 else _random_text(rng) for reference in references
    ]
    hypotheses[0] = "  " + hypotheses[0].replace(" ", "   ") + " "  # spacing is normalised
    out = error_rates(references, hypotheses)
    char_errors, chars, word_errors, words = _oracle(references, hypotheses)
    assert (out["char_errors"], out["chars"]) == (char_errors, chars)
    assert (out["word_errors"], out["words"]) == (word_errors, words)
    assert out["cer"] == pytest.approx(char_errors / chars)
    assert out["wer"] == pytest.approx(word_errors / words)
    for reference, hypothesis in zip(references[:10], hypotheses[:10], strict=True):
        one = utterance_errors(reference, hypothesis)
        expected = _oracle([reference], [hypothesis])
        assert (one["char_errors"], one["word_errors"]) == (expected[0], expected[2])


def test_empty_references_and_hypotheses():
    out = error_rates(["", "a b"], ["x y", ""])
    assert (out["char_errors"], out["chars"]) == (3 + 3, 3)
    assert (out["word_errors"], out["words"]) == (2 + 2, 2)
    assert out["wer"] == 2.0
    nothing = error_rates(["", " "], ["", ""])
    assert nothing["cer"] == 0.0 and nothing["wer"] == 0.0
    assert error_rates([], [])["wer"] == 0.0
    only_insertions = error_rates([""], ["a"])
    assert only_insertions["cer"] == 1.0 and only_insertions["char_errors"] == 1
    assert utterance_errors("3 9 1", "3 9 1")["wer"] == 0.0
    assert utterance_errors("3 9 1", "3 1")["wer"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        error_rates(["a"], [])
