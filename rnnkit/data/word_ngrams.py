"""Token unigrams and bigrams hashed into a fixed number of buckets (the features of a linear
model beside a classifier, ``--ngram-features``).

Each token ``t`` of a text gives two ids: its unigram's, ``1 + fnv1a(t) % (buckets - 1)``, and
its bigram's with the token before (``<s>`` before the first), ``1 + fnv1a(prev + "\\0" + t) %
(buckets - 1)``; bucket 0 is padding. The sum of a weight row per id over a text is a linear model
of its hashed uni- and bigram counts (the hashing trick, Weinberger et al. 2009). FNV-1a is the
character n-grams' hash (``rnnkit.data.char_ngrams``), the same in every process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from rnnkit.data.char_ngrams import fnv1a

START = "<s>"


@dataclass(frozen=True)
class WordNgramHasher:
    """Tokens -> ``(T, 2)`` bucket ids: each token's unigram, then its bigram."""

    buckets: int

    def __post_init__(self) -> None:
        if self.buckets < 2:
            raise ValueError(f"buckets must be >= 2 (0 is padding), got {self.buckets}")

    def bucket(self, key: str) -> int:
        """The bucket (``1 .. buckets - 1``) of one uni- or bigram key."""
        return 1 + fnv1a(key) % (self.buckets - 1)

    def encode(self, tokens: Sequence[str]) -> Tensor:
        """``(T, 2)`` int64: for each token its unigram's bucket and its bigram's."""
        previous = [START, *tokens[:-1]]
        rows = [
            [self.bucket(token), self.bucket(f"{before}\0{token}")]
            for before, token in zip(previous, tokens, strict=True)
        ]
        return torch.tensor(rows, dtype=torch.long).reshape(len(tokens), 2)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> WordNgramHasher:
        return cls(int(values["buckets"]))
