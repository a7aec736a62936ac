"""Tokenizers: text to integer ids and back, saved as JSON in a run directory.

Three kinds share one interface (``Tokenizer``):

- ``CharTokenizer``: one id per character; exact round trip for every character seen in training.
- ``WordTokenizer``: words and single punctuation marks, with an optional minimum count and maximum
  vocabulary size; decoding joins tokens with spaces, so it is not an exact round trip.
- ``BPETokenizer``: byte-level byte-pair encoding trained with the ``tokenizers`` library; every
  text encodes (there are no unknown bytes) and decodes exactly.

Every vocabulary starts with the same four special tokens, so ids 0..3 mean the same everywhere:
``<pad>`` 0, ``<unk>`` 1, ``<bos>`` 2, ``<eos>`` 3. A symbol never seen in training encodes as
``unk_id``; nothing crashes on unseen text.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from rnnkit.data.readers import read_json_file
from rnnkit.errors import UserError

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIAL_TOKENS = (PAD, UNK, BOS, EOS)
FORMAT_VERSION = 1


class Tokenizer(ABC):
    """The interface every tokenizer offers.

    Build one with the subclass's ``train(texts, ...)``; persist it with ``save(directory)`` and
    rebuild any kind with ``load_tokenizer(directory)``.
    """

    kind: ClassVar[str]
    pad_id: int = 0
    unk_id: int = 1
    bos_id: int = 2
    eos_id: int = 3

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of ids, special tokens included."""

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Ids of ``text``; symbols not in the vocabulary become ``unk_id``. No bos/eos added."""

    @abstractmethod
    def decode(self, ids: Iterable[int], *, skip_special: bool = True) -> str:
        """Text of ``ids``; with ``skip_special`` pad, bos and eos are dropped (unk is kept)."""

    @abstractmethod
    def id_to_token(self, token_id: int) -> str:
        """The vocabulary entry of one id (for display, e.g. attention plots)."""

    @abstractmethod
    def _options(self) -> dict[str, Any]:
        """What ``_from_options`` needs to rebuild this tokenizer (JSON-serialisable)."""

    @classmethod
    @abstractmethod
    def _from_options(cls, options: dict[str, Any]) -> Tokenizer:
        """Rebuild a tokenizer from ``_options``'s output."""

    def tokens(self, text: str) -> list[str]:
        """The vocabulary entries ``text`` encodes to (for display)."""
        return [self.id_to_token(i) for i in self.encode(text)]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "format_version": FORMAT_VERSION, **self._options()}

    def save(self, directory: str | Path, name: str = "tokenizer") -> Path:
        """Write ``directory/<name>.json`` and return its path."""
        path = Path(directory) / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: str | Path, name: str = "tokenizer") -> Tokenizer:
        """Read ``directory/<name>.json``; it must hold a tokenizer of this class's kind."""
        tokenizer = load_tokenizer(directory, name)
        if not isinstance(tokenizer, cls):
            raise UserError(
                f"{Path(directory) / f'{name}.json'} holds a {tokenizer.kind} tokenizer, "
                f"not a {cls.kind} one; load it with load_tokenizer."
            )
        return tokenizer

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"


class _VocabularyTokenizer(Tokenizer):
    """A tokenizer defined by a list of tokens (specials first) and a way to split and join text."""

    def __init__(self, tokens: Sequence[str]) -> None:
        if tuple(tokens[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(f"a vocabulary must start with {SPECIAL_TOKENS}, got {tokens[:4]}")
        self._tokens = list(tokens)
        self._ids = {token: i for i, token in enumerate(self._tokens)}
        if len(self._ids) != len(self._tokens):
            raise ValueError("a vocabulary must not repeat a token")

    @property
    def vocab_size(self) -> int:
        return len(self._tokens)

    @abstractmethod
    def _split(self, text: str) -> list[str]:
        """Text to token strings."""

    @abstractmethod
    def _join(self, tokens: list[str]) -> str:
        """Token strings back to text."""

    def encode(self, text: str) -> list[int]:
        ids, unk = self._ids, self.unk_id
        return [ids.get(token, unk) for token in self._split(text)]

    def decode(self, ids: Iterable[int], *, skip_special: bool = True) -> str:
        ids = [int(i) for i in ids]
        if ids and not 0 <= min(ids) <= max(ids) < len(self._tokens):
            bad = next(i for i in ids if not 0 <= i < len(self._tokens))
            raise ValueError(f"token id must be in 0..{len(self._tokens) - 1}, got {bad}")
        dropped = {self.pad_id, self.bos_id, self.eos_id} if skip_special else set()
        tokens = self._tokens
        return self._join([tokens[i] for i in ids if i not in dropped])

    def id_to_token(self, token_id: int) -> str:
        if not 0 <= token_id < len(self._tokens):
            raise ValueError(f"token id must be in 0..{len(self._tokens) - 1}, got {token_id}")
        return self._tokens[token_id]


class CharTokenizer(_VocabularyTokenizer):
    """One id per character; characters sorted by code point after the special tokens.

    An unseen character encodes as ``unk_id`` and decodes as U+FFFD, the replacement character.
    """

    kind = "char"
    unknown_text = "\ufffd"

    @classmethod
    def train(cls, texts: str | Iterable[str]) -> CharTokenizer:
        """The vocabulary of every character in ``texts`` (one string or several)."""
        texts = [texts] if isinstance(texts, str) else texts
        characters: set[str] = set()
        for text in texts:
            characters.update(text)
        return cls([*SPECIAL_TOKENS, *sorted(characters)])

    def _split(self, text: str) -> list[str]:
        return list(text)

    def _join(self, tokens: list[str]) -> str:
        return "".join(self.unknown_text if token == UNK else token for token in tokens)

    def _options(self) -> dict[str, Any]:
        return {"tokens": self._tokens}

    @classmethod
    def _from_options(cls, options: dict[str, Any]) -> CharTokenizer:
        return cls(options["tokens"])


# A word is a run of letters/digits/underscores, optionally with inner apostrophes ("don't");
# any other non-space character is a token of its own; a newline is kept as a token.
_WORD_PATTERN = re.compile(r"\w+(?:'\w+)*|[^\w\s]|\n")
_NO_SPACE_BEFORE = frozenset(".,;:!?)]}%")


class WordTokenizer(_VocabularyTokenizer):
    """Words and punctuation marks; newlines are tokens, other whitespace only separates.

    Vocabulary: special tokens, then words by descending count (ties in order of first
    appearance), keeping words seen at least ``min_count`` times and at most ``max_size`` of them.
    Decoding joins words with single spaces (none before closing punctuation, none around
    newlines), so ``decode(encode(text))`` normalises spacing.
    """

    kind = "word"

    def __init__(self, tokens: Sequence[str], *, lowercase: bool = False) -> None:
        super().__init__(tokens)
        self.lowercase = lowercase

    @classmethod
    def train(
        cls,
        texts: str | Iterable[str],
        *,
        min_count: int = 1,
        max_size: int | None = None,
        lowercase: bool = False,
    ) -> WordTokenizer:
        """Count the words of ``texts``; keep the frequent ones (``max_size`` excludes specials)."""
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        if max_size is not None and max_size < 1:
            raise ValueError(f"max_size must be >= 1 or None, got {max_size}")
        texts = [texts] if isinstance(texts, str) else texts
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(_WORD_PATTERN.findall(text.lower() if lowercase else text))
        words = [word for word, count in counts.most_common() if count >= min_count]
        return cls([*SPECIAL_TOKENS, *words[:max_size]], lowercase=lowercase)

    def _split(self, text: str) -> list[str]:
        return _WORD_PATTERN.findall(text.lower() if self.lowercase else text)

    def _join(self, tokens: list[str]) -> str:
        pieces: list[str] = []
        for token in tokens:
            glued = not pieces or pieces[-1] == "\n" or token == "\n" or token in _NO_SPACE_BEFORE
            pieces.append(token if glued else " " + token)
        return "".join(pieces)

    def _options(self) -> dict[str, Any]:
        return {"tokens": self._tokens, "lowercase": self.lowercase}

    @classmethod
    def _from_options(cls, options: dict[str, Any]) -> WordTokenizer:
        return cls(options["tokens"], lowercase=options.get("lowercase", False))


class BPETokenizer(Tokenizer):
    """Byte-level byte-pair encoding (GPT-2 style) trained with the ``tokenizers`` library.

    Every byte is in the initial alphabet, so any text encodes without unknowns and decodes exactly.
    """

    kind = "bpe"

    def __init__(self, backend: Any) -> None:
        """Wrap a trained ``tokenizers.Tokenizer`` whose vocabulary starts with the specials."""
        self._backend = backend
        for expected_id, token in enumerate(SPECIAL_TOKENS):
            if backend.token_to_id(token) != expected_id:
                raise ValueError(f"the BPE vocabulary must map {token!r} to id {expected_id}")

    @classmethod
    def train(
        cls, texts: str | Iterable[str], *, vocab_size: int = 2000, min_frequency: int = 2
    ) -> BPETokenizer:
        """Learn merges on ``texts`` until the vocabulary has ``vocab_size`` entries (or no pair
        occurs ``min_frequency`` times)."""
        from tokenizers import Tokenizer as Backend
        from tokenizers import decoders, models, pre_tokenizers, trainers

        byte_alphabet = pre_tokenizers.ByteLevel.alphabet()
        if vocab_size < len(SPECIAL_TOKENS) + len(byte_alphabet):
            raise ValueError(
                f"vocab_size must be >= {len(SPECIAL_TOKENS) + len(byte_alphabet)} "
                f"(special tokens plus the 256 bytes), got {vocab_size}"
            )
        texts = [texts] if isinstance(texts, str) else list(texts)
        backend = Backend(models.BPE(unk_token=UNK))
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=list(SPECIAL_TOKENS),
            initial_alphabet=byte_alphabet,
            show_progress=False,
        )
        backend.train_from_iterator(texts, trainer=trainer)
        return cls(backend)

    @property
    def vocab_size(self) -> int:
        return self._backend.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self._backend.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Iterable[int], *, skip_special: bool = True) -> str:
        dropped = {self.pad_id, self.bos_id, self.eos_id} if skip_special else set()
        kept = [int(i) for i in ids if int(i) not in dropped]
        for i in kept:
            if not 0 <= i < self.vocab_size:
                raise ValueError(f"token id must be in 0..{self.vocab_size - 1}, got {i}")
        return self._backend.decode(kept, skip_special_tokens=False)

    def id_to_token(self, token_id: int) -> str:
        token = self._backend.id_to_token(token_id)
        if token is None:
            raise ValueError(f"token id must be in 0..{self.vocab_size - 1}, got {token_id}")
        return token

    def _options(self) -> dict[str, Any]:
        return {"backend": json.loads(self._backend.to_str())}

    @classmethod
    def _from_options(cls, options: dict[str, Any]) -> BPETokenizer:
        from tokenizers import Tokenizer as Backend

        return cls(Backend.from_str(json.dumps(options["backend"])))


TOKENIZER_KINDS: dict[str, type[Tokenizer]] = {
    cls.kind: cls for cls in (CharTokenizer, WordTokenizer, BPETokenizer)
}


def train_tokenizer(kind: str, texts: str | Iterable[str], **options: Any) -> Tokenizer:
    """Train a tokenizer of ``kind`` ("char", "word" or "bpe") with that class's options."""
    if kind not in TOKENIZER_KINDS:
        raise ValueError(f"tokenizer kind must be one of {sorted(TOKENIZER_KINDS)}, got {kind!r}")
    return TOKENIZER_KINDS[kind].train(texts, **options)  # type: ignore[attr-defined]


def tokenizer_from_dict(data: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from ``Tokenizer.to_dict()``'s output."""
    kind = data.get("kind")
    if kind not in TOKENIZER_KINDS:
        raise ValueError(f"tokenizer kind must be one of {sorted(TOKENIZER_KINDS)}, got {kind!r}")
    if data.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"tokenizer format_version must be {FORMAT_VERSION}, got {data.get('format_version')!r}"
        )
    return TOKENIZER_KINDS[kind]._from_options(data)


def load_tokenizer(directory: str | Path, name: str = "tokenizer") -> Tokenizer:
    """Read ``directory/<name>.json`` written by ``Tokenizer.save``, whatever its kind.

    Raises ``UserError`` when the file is missing, is not valid JSON, or is not a tokenizer this
    version of rnnkit can read.
    """
    # Every exception counts: the ``tokenizers`` backend raises its own types on bad input.
    path = Path(directory) / f"{name}.json"
    return read_json_file(path, tokenizer_from_dict, "rnnkit tokenizer", errors=(Exception,))
