"""Fitting the tokenizer a text task's options ask for (lm, classify, translate).

The flags ``--tokenizer``, ``--vocab-size``, ``--min-count`` and ``--lowercase`` mean the same in
every text task; ``tokenizer_settings`` turns them into the keyword arguments of
``rnnkit.data.tokenizers.train_tokenizer``, whose names differ by tokenizer kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rnnkit.data.tokenizers import Tokenizer, train_tokenizer
from rnnkit.errors import UserError

# the help of the tokenizer flags, the same in every text task
TOKENIZER_HELP = "Tokens to model: char, word or bpe."
VOCAB_SIZE_HELP = "word: words kept; bpe: vocabulary size."
MIN_COUNT_HELP = "word/bpe: fewest occurrences to keep or merge."
LOWERCASE_HELP = "word: lowercase the texts."


def tokenizer_settings(
    kind: str, *, vocab_size: int | None, min_count: int | None, lowercase: bool | None = None
) -> dict[str, Any]:
    """``train_tokenizer``'s keyword arguments for a ``kind`` tokenizer; None leaves a default.

    word: ``vocab_size`` words kept, rarer than ``min_count`` unknown, optionally lowercased;
    bpe: ``vocab_size`` tokens, pairs seen fewer than ``min_count`` times not merged; char: none.
    """
    settings: dict[str, Any] = {}
    if kind == "word":
        if lowercase is not None:
            settings["lowercase"] = lowercase
        if vocab_size is not None:
            settings["max_size"] = vocab_size
        if min_count is not None:
            settings["min_count"] = min_count
    elif kind == "bpe":
        if vocab_size is not None:
            settings["vocab_size"] = vocab_size
        if min_count is not None:
            settings["min_frequency"] = min_count
    return settings


def fit_tokenizer(kind: str, texts: str | Iterable[str], settings: dict[str, Any]) -> Tokenizer:
    """A ``kind`` tokenizer trained on ``texts``; ``UserError`` when the settings cannot work."""
    try:
        return train_tokenizer(kind, texts, **settings)
    except ValueError as error:  # e.g. a BPE vocabulary smaller than its byte alphabet
        raise UserError(f"cannot build the {kind} tokenizer: {error}.") from None
