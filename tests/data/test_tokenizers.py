"""Char, word and BPE tokenizers: round trips, unknown symbols, saving and loading as JSON."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from rnnkit.data import (
    BPETokenizer,
    CharTokenizer,
    WordTokenizer,
    load_tokenizer,
    train_tokenizer,
)
from rnnkit.errors import UserError

CORPUS = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n\nFirst Citizen:\nYou are all resolved rather to die than to famish?\n"
    "Größe — ça coûte 5 € 日本語\n"
)


def test_special_ids_are_the_same_for_every_kind() -> None:
    for tokenizer in (
        CharTokenizer.train(CORPUS),
        WordTokenizer.train(CORPUS),
        BPETokenizer.train(CORPUS, vocab_size=300),
    ):
        assert (tokenizer.pad_id, tokenizer.unk_id, tokenizer.bos_id, tokenizer.eos_id) == (
            0,
            1,
            2,
            3,
        )
        assert [tokenizer.id_to_token(i) for i in range(4)] == ["<pad>", "<unk>", "<bos>", "<eos>"]


def test_char_vocabulary_and_round_trip() -> None:
    tokenizer = CharTokenizer.train(CORPUS)
    assert tokenizer.vocab_size == 4 + len(set(CORPUS))
    ids = tokenizer.encode(CORPUS)
    assert len(ids) == len(CORPUS)
    assert [tokenizer.id_to_token(i) for i in ids] == list(CORPUS)
    assert tokenizer.decode(ids) == CORPUS


def test_char_unknown_maps_to_unk_and_decodes_as_replacement() -> None:
    tokenizer = CharTokenizer.train("abc")
    assert tokenizer.encode("abz🙂") == [
        tokenizer.encode("a")[0],
        tokenizer.encode("b")[0],
        tokenizer.unk_id,
        tokenizer.unk_id,
    ]
    assert tokenizer.decode(tokenizer.encode("abz")) == "ab\ufffd"


def test_decode_skips_pad_bos_eos_unless_asked() -> None:
    tokenizer = CharTokenizer.train("ab")
    a, b = tokenizer.encode("ab")
    ids = [tokenizer.bos_id, a, tokenizer.pad_id, b, tokenizer.eos_id]
    assert tokenizer.decode(ids) == "ab"
    assert tokenizer.decode(ids, skip_special=False) == "<bos>a<pad>b<eos>"


def test_word_tokens_and_normalised_round_trip() -> None:
    tokenizer = WordTokenizer.train(CORPUS)
    text = "Speak, speak.\nYou are all resolved rather to die?"
    assert tokenizer.tokens(text) == [
        "Speak", ",", "speak", ".", "\n", "You", "are", "all", "resolved", "rather", "to", "die",
        "?",
    ]  # fmt: skip
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_word_min_count_and_max_size_against_counts() -> None:
    words = ["the"] * 5 + ["cat"] * 3 + ["sat"] * 2 + ["mat"]
    text = " ".join(words)
    counts = Counter(words)

    frequent = WordTokenizer.train(text, min_count=2)
    assert {frequent.id_to_token(i) for i in range(4, frequent.vocab_size)} == {
        w for w, n in counts.items() if n >= 2
    }
    assert frequent.encode("the mat") == [frequent.encode("the")[0], frequent.unk_id]

    top_two = WordTokenizer.train(text, max_size=2)
    assert [top_two.id_to_token(i) for i in range(4, top_two.vocab_size)] == ["the", "cat"]
    assert top_two.encode("sat dog") == [top_two.unk_id, top_two.unk_id]


def test_word_lowercase_option() -> None:
    tokenizer = WordTokenizer.train("The the THE", lowercase=True)
    assert tokenizer.vocab_size == 5
    assert tokenizer.encode("tHe") == [4]


def test_bpe_round_trips_any_text_exactly() -> None:
    tokenizer = BPETokenizer.train([CORPUS] * 3, vocab_size=320)
    assert tokenizer.vocab_size <= 320
    unseen = "Never seen: ∑ 🙂 \t tabs  and  double  spaces\r\n"
    for text in (CORPUS, unseen):
        ids = tokenizer.encode(text)
        assert all(0 <= i < tokenizer.vocab_size for i in ids)
        assert tokenizer.decode(ids) == text
    # byte-level: nothing is unknown
    assert tokenizer.unk_id not in tokenizer.encode(unseen)


def test_bpe_merges_compress_the_training_text() -> None:
    tokenizer = BPETokenizer.train([CORPUS] * 3, vocab_size=400)
    assert len(tokenizer.encode(CORPUS)) < 0.7 * len(CORPUS.encode("utf-8"))


def test_bpe_rejects_a_vocabulary_smaller_than_the_bytes() -> None:
    with pytest.raises(ValueError, match="vocab_size must be >= 260"):
        BPETokenizer.train(CORPUS, vocab_size=100)


@pytest.mark.parametrize(
    ("kind", "options"),
    [("char", {}), ("word", {"min_count": 2, "lowercase": True}), ("bpe", {"vocab_size": 300})],
)
def test_save_and_load_as_json(tmp_path: Path, kind: str, options: dict) -> None:
    tokenizer = train_tokenizer(kind, CORPUS, **options)
    path = tokenizer.save(tmp_path)
    assert path == tmp_path / "tokenizer.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["kind"] == kind
    loaded = load_tokenizer(tmp_path)
    assert type(loaded) is type(tokenizer)
    assert loaded.vocab_size == tokenizer.vocab_size
    probe = CORPUS + " unseen words ∑"
    assert loaded.encode(probe) == tokenizer.encode(probe)
    assert loaded.decode(loaded.encode(probe)) == tokenizer.decode(tokenizer.encode(probe))
    assert type(tokenizer).load(tmp_path).encode(probe) == tokenizer.encode(probe)


def test_two_tokenizers_side_by_side(tmp_path: Path) -> None:
    CharTokenizer.train("abc").save(tmp_path, name="source")
    WordTokenizer.train("x y").save(tmp_path, name="target")
    assert isinstance(load_tokenizer(tmp_path, "source"), CharTokenizer)
    assert isinstance(load_tokenizer(tmp_path, "target"), WordTokenizer)


def test_load_errors_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="tokenizer.json does not exist"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(UserError, match="not a readable rnnkit tokenizer"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text(json.dumps({"kind": "morse", "format_version": 1}))
    with pytest.raises(UserError, match="not a readable rnnkit tokenizer"):
        load_tokenizer(tmp_path)
    CharTokenizer.train("abc").save(tmp_path)
    with pytest.raises(UserError, match="holds a char tokenizer, not a word one"):
        WordTokenizer.load(tmp_path)


def test_unknown_kind_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="tokenizer kind must be one of"):
        train_tokenizer("morse", "abc")


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_decoding_an_id_outside_the_vocabulary_is_a_value_error(kind: str) -> None:
    options = {"vocab_size": 300} if kind == "bpe" else {}
    tokenizer = train_tokenizer(kind, CORPUS, **options)
    with pytest.raises(ValueError, match="token id must be in"):
        tokenizer.decode([4, tokenizer.vocab_size])
