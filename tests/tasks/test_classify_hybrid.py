"""The hybrid classifier (--ngram-features): the RNN's logits plus a linear model of hashed token
uni- and bigram counts, against a hashing computed here from the definitions."""

from __future__ import annotations

import numpy as np
import torch
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.data.char_ngrams import CharNgramHasher
from rnnkit.data.word_ngrams import WordNgramHasher
from rnnkit.models.classifier import SequenceClassifier
from rnnkit.tasks import classify

BUCKETS = 101


def fnv1a_32(data: bytes) -> int:
    """32-bit FNV-1a from its published constants."""
    value = 2166136261
    for byte in data:
        value = ((value ^ byte) * 16777619) % 2**32
    return value


def counts_by_hand(words: list[str], buckets: int) -> np.ndarray:
    """The hashed uni- and bigram counts of ``words`` (bigram key: previous, NUL, word; ``<s>``
    before the first)."""
    counts = np.zeros(buckets)
    for position, word in enumerate(words):
        before = words[position - 1] if position else "<s>"
        for key in (word, f"{before}\0{word}"):
            counts[1 + fnv1a_32(key.encode("utf-8")) % (buckets - 1)] += 1
    return counts


def test_the_ngram_logits_are_the_counts_times_the_weights_and_add_to_the_rnns():
    text = "The food was not good , not good at all"
    options = classify.ClassifyOptions(data="x.csv", out="o", tokenizer="word")
    tokenizer = classify.fit_tokenizer(options, [text, "other words"])
    encoder = classify.Encoder(
        tokenizer=tokenizer, ngrams=CharNgramHasher(64), word_ngrams=WordNgramHasher(BUCKETS)
    )
    x = encoder.encode_text(text)
    assert x.shape == (10, 1 + 24 + 2)
    torch.manual_seed(0)
    model = SequenceClassifier(
        3, vocab_size=tokenizer.vocab_size, embedding_size=8, hidden_size=8,
        ngram_buckets=64, word_ngram_buckets=BUCKETS,
    ).eval()  # fmt: skip
    with torch.no_grad():
        model.word_ngrams.weight[1:].normal_()
    weights = model.word_ngrams.weight.detach().numpy()
    words = text.lower().split()
    expected = counts_by_hand(words, BUCKETS) @ weights
    got = model.word_ngram_logits(x.unsqueeze(0))[0].detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # the model's logits are the RNN's (the weights zeroed) plus the linear model's
    with torch.no_grad():
        hybrid = model(x.unsqueeze(0))[0]
        model.word_ngrams.weight.zero_()
        alone = model(x.unsqueeze(0))[0]
    np.testing.assert_allclose((hybrid - alone).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_padding_adds_nothing_to_the_ngram_logits():
    hasher = WordNgramHasher(BUCKETS)
    model = SequenceClassifier(2, vocab_size=10, embedding_size=4, hidden_size=4,
                               word_ngram_buckets=BUCKETS)  # fmt: skip
    with torch.no_grad():
        model.word_ngrams.weight[1:].normal_()
    ids = hasher.encode(["a", "b", "c"])
    x = torch.cat([torch.tensor([[4], [5], [6]]), ids], dim=1)
    padded = torch.cat([x, torch.zeros(2, 3, dtype=torch.long)])
    with torch.no_grad():
        one = model.word_ngram_logits(x.unsqueeze(0))
        two = model.word_ngram_logits(padded.unsqueeze(0))
    torch.testing.assert_close(one, two)


def test_a_hybrid_run_learns_records_its_hasher_and_predicts(tmp_path):
    rows = [("good film", "pos"), ("bad film", "neg"), ("great plot", "pos"), ("awful plot", "neg")]
    data = tmp_path / "train.csv"
    data.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows * 12))
    out = tmp_path / "run"
    args = ["train", "classify", "--data", data, "--out", out, "--progress", "off", "--hidden",
            "8", "--embedding-size", "8", "--epochs", "3", "--ngram-features", "512",
            "--ensemble", "1"]  # fmt: skip
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    run = classify.load_run(out)
    assert run.config["data"]["word_ngrams"] == {"buckets": 512}
    assert run.config["model"]["word_ngram_buckets"] == 512
    assert run.model.word_ngrams.weight.abs().sum() > 0  # the linear part was trained
    [prediction] = classify.predict_texts(out, ["good plot"])
    assert prediction.label == "pos"
