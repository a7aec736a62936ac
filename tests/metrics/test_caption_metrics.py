"""CIDEr-D against values worked out by hand from Vedantam et al. (2015)'s definition, and the
caption BLEU with several references against hand-counted n-gram precisions."""

from __future__ import annotations

import math

import pytest

from rnnkit.metrics.captioning import score_captions
from rnnkit.metrics.cider import caption_words, cider_d
from rnnkit.metrics.translation import corpus_bleu


def test_identical_captions_score_the_orders_they_have():
    # "a" is in both images' references (idf 0); "cat", "dog" and the bigrams in one (idf log 2):
    # orders 1 and 2 have cosine 1, orders 3 and 4 have no n-grams, so 10 * (1 + 1) / 4 each.
    score, per_image = cider_d(["a cat", "a dog"], [["a cat"], ["a dog"]])
    assert per_image == pytest.approx([5.0, 5.0])
    assert score == pytest.approx(5.0)


def test_clipping_and_the_length_penalty():
    score, per_image = cider_d(["cat cat", "a dog barks"], [["a cat"], ["a dog"]])
    # image 1, order 1: g(c) = {cat: 2 log2}, g(s) = {a: 0, cat: log2}; the clipped product is
    # log2 * log2 and the norms 2 log2 * log2: cosine 1/2, same length. Order 2: "cat cat" is in
    # no reference, so nothing matches.
    first = 10 * 0.5 / 4
    # image 2, orders 1 and 2: one of two n-grams (equal weight log2; "a" weighs 0) matches:
    # cosine 1/sqrt(2); lengths 3 and 2: exp(-1 / 72). Order 3: the reference has no trigram.
    second = 2 * 10 * math.exp(-1 / 72) / math.sqrt(2) / 4
    assert per_image == pytest.approx([first, second])
    assert score == pytest.approx((first + second) / 2)


def test_scores_average_over_an_images_references():
    # image 1's two references: one equal to the candidate, one sharing nothing with it
    _, per_image = cider_d(["a cat", "a dog"], [["a cat", "the bird"], ["a dog"]])
    # idf: "a" is in both images (0), "cat", "the", "bird", "dog" in one (log 2). Against "a cat":
    # orders 1 and 2 have cosine 1; against "the bird": 0. Mean over the two references: half.
    assert per_image[0] == pytest.approx(10 * 2 / 4 / 2)


def test_words_are_lowercased_and_punctuation_split():
    assert caption_words("A dog, running.") == ["a", "dog", ",", "running", "."]


def test_bleu_takes_the_best_of_several_references():
    # the hypothesis is the second reference of its item: every n-gram matches
    assert corpus_bleu(["a b c d"], [["x y z w", "a b c d"]]) == pytest.approx(100.0)
    # items with different numbers of references
    refs = [["a b c d"], ["e f g h", "i j k l", "m n o p"]]
    assert corpus_bleu(["a b c d", "m n o p"], refs) == pytest.approx(100.0)


def test_bleu_orders_from_hand_counted_precisions():
    # two of four words match, no bigram does; same length, so no brevity penalty
    assert corpus_bleu(["a b c d"], [["a x b y"]], max_order=1) == pytest.approx(50.0)
    # unigrams 3/4; bigrams "a b" and "b c" match of "a b", "b c", "c d": 2/3
    assert corpus_bleu(["a b c d"], [["a b c e"]], max_order=2) == pytest.approx(
        100 * math.sqrt(3 / 4 * 2 / 3)
    )


def test_score_captions_reports_every_figure():
    scores = score_captions(["a cat, a hat", "A  dog"], [["a cat , a hat"], ["the bird", "a dog"]])
    assert set(scores) == {"bleu1", "bleu2", "bleu3", "bleu4", "cider", "exact_match"}
    assert scores["exact_match"] == 1.0  # case and spaces around words and marks do not count
    assert score_captions(["a cat"], [["a cats"]])["exact_match"] == 0.0
    with pytest.raises(ValueError, match="at least one reference"):
        score_captions(["a"], [[]])
