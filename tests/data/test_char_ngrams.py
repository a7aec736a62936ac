"""Hashed character n-grams: FNV-1a against its published test vectors, n-grams by hand."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data.char_ngrams import CharNgramHasher, fnv1a, word_ngrams


@pytest.mark.parametrize(
    ("text", "expected"),
    # the 32-bit FNV-1a test vectors of the FNV reference (draft-eastlake-fnv)
    [("", 0x811C9DC5), ("a", 0xE40C292C), ("foobar", 0xBF9CF968)],
)
def test_fnv1a_matches_the_reference_vectors(text, expected):
    assert fnv1a(text) == expected


def test_word_ngrams_of_a_marked_word_by_hand():
    assert word_ngrams("cat", 3, 4) == ["<ca", "cat", "at>", "<cat", "cat>"]
    assert word_ngrams("a", 4, 5) == ["<a>"]  # shorter than n_min: the marked word itself


def test_encode_pads_with_zero_and_buckets_stay_in_range():
    hasher = CharNgramHasher(buckets=7, n_min=3, n_max=4, max_per_word=6)
    ids = hasher.encode(["cat", "a"])
    assert ids.shape == (2, 6) and ids.dtype == torch.long
    grams = ["<ca", "cat", "at>", "<cat", "cat>"]
    assert ids[0, :5].tolist() == [1 + fnv1a(g) % 6 for g in grams] and ids[0, 5] == 0
    assert ids[1, 0] == 1 + fnv1a("<a>") % 6 and ids[1, 1:].eq(0).all()
    assert hasher.encode(["cat"]).equal(ids[:1])  # the same in every call (and process)


def test_max_per_word_truncates_and_the_settings_round_trip():
    hasher = CharNgramHasher(buckets=100, n_min=2, n_max=3, max_per_word=3)
    assert len(hasher.word_ids("elephant")) == 3
    assert CharNgramHasher.from_dict(hasher.to_dict()) == hasher
    with pytest.raises(ValueError):
        CharNgramHasher(buckets=1)
