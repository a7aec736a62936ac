"""Character n-grams of words, hashed into a fixed number of buckets (subword features).

A word's vector can be built from its pieces as well as from its own embedding (Bojanowski et al.
2017, fastText): a word never seen in training, or seen once, still shares the n-grams of the
words it resembles ("unwatchable" with "watch" and "able"). The word is marked at both ends
(``<word>``) so that prefixes and suffixes differ from inner pieces, and every n-gram of length
``n_min`` to ``n_max`` is hashed (32-bit FNV-1a, the same in every process, unlike Python's
``hash``) into bucket ``1 .. buckets - 1``; bucket 0 is padding. A word gives at most
``max_per_word`` ids, in order of length, then position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

_FNV_OFFSET, _FNV_PRIME, _MASK = 0x811C9DC5, 0x01000193, 0xFFFFFFFF


def fnv1a(text: str) -> int:
    """The 32-bit FNV-1a hash of ``text``'s UTF-8 bytes."""
    value = _FNV_OFFSET
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * _FNV_PRIME) & _MASK
    return value


def word_ngrams(word: str, n_min: int, n_max: int) -> list[str]:
    """The n-grams of ``<word>`` with ``n_min <= n <= n_max``, shorter first, left to right.

    A marked word shorter than ``n_min`` yields itself, so every word has at least one piece.
    """
    marked = f"<{word}>"
    grams = [
        marked[start : start + n]
        for n in range(n_min, n_max + 1)
        for start in range(len(marked) - n + 1)
    ]
    return grams or [marked]


@dataclass(frozen=True)
class CharNgramHasher:
    """Words -> hashed n-gram ids ``(T, max_per_word)``, 0-padded."""

    buckets: int
    n_min: int = 3
    n_max: int = 5
    max_per_word: int = 24

    def __post_init__(self) -> None:
        if self.buckets < 2:
            raise ValueError(f"buckets must be >= 2 (0 is padding), got {self.buckets}")
        if not 1 <= self.n_min <= self.n_max:
            raise ValueError(f"need 1 <= n_min <= n_max, got {self.n_min}, {self.n_max}")
        if self.max_per_word < 1:
            raise ValueError(f"max_per_word must be >= 1, got {self.max_per_word}")

    def word_ids(self, word: str) -> list[int]:
        """The bucket ids (in ``1 .. buckets - 1``) of ``word``'s first ``max_per_word`` n-grams."""
        grams = word_ngrams(word, self.n_min, self.n_max)[: self.max_per_word]
        return [1 + fnv1a(gram) % (self.buckets - 1) for gram in grams]

    def encode(self, words: Sequence[str]) -> Tensor:
        """``(T, max_per_word)`` int64 bucket ids of ``words``, each row 0-padded."""
        ids = torch.zeros(len(words), self.max_per_word, dtype=torch.long)
        for row, word in enumerate(words):
            pieces = self.word_ids(word)
            ids[row, : len(pieces)] = torch.tensor(pieces, dtype=torch.long)
        return ids

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CharNgramHasher:
        names = ("buckets", "n_min", "n_max", "max_per_word")
        return cls(**{name: int(values[name]) for name in names})
