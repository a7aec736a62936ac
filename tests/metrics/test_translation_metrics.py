"""Translation metrics against sacrebleu called directly, and exact match against hand counts."""

from __future__ import annotations

import pytest
import sacrebleu

from rnnkit.metrics.translation import score_translations


def test_scores_equal_sacrebleu_called_directly():
    references = ["the cat sat on the mat .", "a dog runs", "2026-11-22", "hello world"]
    hypotheses = ["the cat sat on a mat .", "a dog  runs", "2026-11-21", "hello world"]
    scores = score_translations(hypotheses, references)
    assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hypotheses, [references]).score)
    assert scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hypotheses, [references]).score)
    assert scores["exact_match"] == pytest.approx(2 / 4)  # spacing differences do not count
    assert score_translations(references, references)["bleu"] == pytest.approx(100.0)


def test_exact_match_ignores_only_whitespace():
    references = ["Hello  world", "a b", "x"]
    hypotheses = [" Hello world\t", "a b.", "X"]  # equal up to spacing; punctuation; case
    assert score_translations(hypotheses, references)["exact_match"] == pytest.approx(1 / 3)


def test_takes_any_sequence_of_texts():
    texts = ("the cat sat on the mat",)
    scores = score_translations(texts, texts)
    assert scores == {
        "bleu": pytest.approx(100.0),
        "chrf": pytest.approx(100.0),
        "exact_match": 1.0,
    }


def test_needs_one_hypothesis_per_reference_and_at_least_one():
    with pytest.raises(ValueError, match="one hypothesis per reference"):
        score_translations(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="at least one sentence"):
        score_translations([], [])
