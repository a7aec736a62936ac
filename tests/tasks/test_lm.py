"""``rnnkit.tasks.lm`` through its Python API: what training reaches, what evaluation computes,
what generation produces, and how runs of other tasks are refused."""

from __future__ import annotations

import json
import math
import random
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from rnnkit.data.tokenizers import BPETokenizer, WordTokenizer, load_tokenizer
from rnnkit.errors import UserError
from rnnkit.models import LanguageModel
from rnnkit.tasks import lm

CYCLE = "abcdefgh\n"


def tiny_options(data, out, **changes) -> lm.LMOptions:
    settings = dict(
        data=data, out=out, hidden=16, layers=1, dropout=0.0, bptt=16, batch_size=8,
        lr=0.02, warmup_steps=0, max_steps=80, eval_every=40, progress="off",
        precision="fp32", device="cpu",
    )  # fmt: skip
    settings.update(changes)
    return lm.LMOptions(**settings)


@pytest.fixture(scope="module")
def cycle_run(tmp_path_factory):
    """A model trained on a text that repeats one 9-character line: fully predictable."""
    directory = tmp_path_factory.mktemp("cycle")
    corpus = directory / "cycle.txt"
    corpus.write_text(CYCLE * 300, encoding="utf-8")
    return lm.train(tiny_options(corpus, directory / "run"))


def markov_text(length: int, seed: int) -> str:
    """Each letter is followed by one of two letters with probability 1/2 (entropy rate ln 2)."""
    successors = {"a": "bc", "b": "cd", "c": "da", "d": "ab"}
    rng = random.Random(seed)
    letters = ["a"]
    for _ in range(length - 1):
        letters.append(rng.choice(successors[letters[-1]]))
    return "".join(letters)


def entropy_rate_per_symbol(text: str) -> float:
    """Conditional entropy H(next | previous) in nats, from the text's own bigram counts."""
    symbols = sorted(set(text))
    index = {s: i for i, s in enumerate(symbols)}
    counts = np.zeros((len(symbols), len(symbols)))
    for a, b in zip(text, text[1:], strict=False):
        counts[index[a], index[b]] += 1
    rows = counts.sum(axis=1, keepdims=True)
    p = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    logs = np.log(p, out=np.zeros_like(p), where=p > 0)
    return float(-(counts * logs).sum() / counts.sum())


def test_training_reaches_the_entropy_rate_of_a_markov_text(tmp_path):
    text = markov_text(12_000, seed=1)
    corpus = tmp_path / "markov.txt"
    corpus.write_text(text, encoding="utf-8")
    entropy = entropy_rate_per_symbol(text)
    assert entropy == pytest.approx(math.log(2), abs=0.01)  # the oracle is what it claims
    run = lm.train(tiny_options(corpus, tmp_path / "run", lr=0.03, max_steps=80, eval_every=80))
    loss = json.loads((run / "config.json").read_text())["results"]["metrics"]["loss"]
    # a model cannot beat the entropy rate (up to sampling noise) and must come close to it;
    # a unigram model would score ln 4 = 1.386
    assert entropy - 0.02 < loss < entropy + 0.06


def test_validation_is_the_last_tenth_of_the_file(cycle_run, tmp_path):
    config = json.loads((cycle_run / "config.json").read_text())
    corpus = config["options"]["data"]
    whole = open(corpus, encoding="utf-8").read()
    cut = int(len(whole) * 0.9)
    assert config["data"]["train_characters"] == cut
    tail = tmp_path / "tail.txt"
    tail.write_text(whole[cut:], encoding="utf-8")
    # evaluating the kept weights on the tail reproduces the run's final validation loss
    assert lm.evaluate(cycle_run, tail)["loss"] == pytest.approx(
        config["results"]["metrics"]["loss"], rel=1e-5
    )


def test_evaluate_equals_a_one_pass_computation_per_stream(cycle_run, tmp_path):
    text = "abcdefgh\nabcdeXgh\n" * 20  # with a character never seen in training
    data = tmp_path / "eval.txt"
    data.write_text(text, encoding="utf-8")
    metrics = lm.evaluate(cycle_run, data)

    # the oracle: rebuild the model from its files and run each evaluation stream in one call
    config = json.loads((cycle_run / "config.json").read_text())
    model = LanguageModel.from_config(config["model"])
    model.load_state_dict(load_file(cycle_run / "model.safetensors"))
    model.eval()
    ids = torch.tensor(load_tokenizer(cycle_run).encode(text))
    streams = min(lm.EVAL_STREAMS, len(ids) // 2)
    length = len(ids) // streams
    total, count = 0.0, 0
    with torch.no_grad():
        for s in range(streams):
            piece = ids[s * length : (s + 1) * length].unsqueeze(0)
            logits, _ = model(piece[:, :-1])
            total += F.cross_entropy(logits[0], piece[0, 1:], reduction="sum").item()
            count += length - 1
    assert metrics["tokens"] == count
    assert metrics["loss"] == pytest.approx(total / count, rel=1e-5)
    assert metrics["bpc"] == pytest.approx(metrics["loss"] / math.log(2), rel=1e-12)


def test_greedy_generation_continues_the_cycle(cycle_run):
    text = "".join(lm.generate(cycle_run, prime="abc", length=20, temperature=0.0))
    assert text == (CYCLE * 4)[3 : 3 + 20]


def test_sampling_is_reproducible_with_a_seed(cycle_run):
    def sample(seed):
        return "".join(lm.generate(cycle_run, prime="a", length=50, temperature=3.0, seed=seed))

    first, second, other = sample(5), sample(5), sample(6)
    assert first == second and first != other
    assert len(first) == 50 and set(first) <= set(CYCLE)  # never padding, markers or unknown


def test_prime_with_unseen_characters_maps_to_unknown(cycle_run):
    text = "".join(lm.generate(cycle_run, prime="Ωabc", length=5, temperature=0.0))
    assert len(text) == 5 and set(text) <= set(CYCLE)


def fake_run_of_task(run, directory, task):
    shutil.copytree(run, directory)
    config = json.loads((directory / "config.json").read_text())
    config["task"] = task
    (directory / "config.json").write_text(json.dumps(config))
    return directory


def test_runs_of_other_tasks_are_refused(cycle_run, tmp_path):
    other = fake_run_of_task(cycle_run, tmp_path / "classifier", "classify")
    data = tmp_path / "text.txt"
    data.write_text(CYCLE * 3, encoding="utf-8")
    for call in (
        lambda: lm.evaluate(other, data),
        lambda: lm.generate(other),
        lambda: lm.describe(other),
    ):
        with pytest.raises(UserError, match="'classify', not 'lm'"):
            call()


@pytest.mark.parametrize(
    "tokenizer",
    [
        BPETokenizer.train("héllo wörld, 日本語 😀 " * 20, vocab_size=300),
        WordTokenizer.train("the cat sat on the mat . the dog sat .\n"),
    ],
    ids=["bpe", "word"],
)
def test_text_stream_rebuilds_the_decoded_text(tokenizer):
    text = (
        "héllo wörld, 日本語 😀 the cat sat\n"
        if tokenizer.kind == "bpe"
        else "the dog sat on the cat ."
    )
    ids = tokenizer.encode(text)
    stream = lm.TextStream(tokenizer)
    pieces = [stream.feed(i) for i in ids] + [stream.flush()]
    assert "".join(pieces) == tokenizer.decode(ids)
    assert "\ufffd" not in "".join(pieces)
    if tokenizer.kind == "bpe":
        assert "".join(pieces) == text  # byte-level BPE decodes exactly
        assert sum(1 for p in pieces if p) > 5  # and streams piece by piece, not all at the end

    # continuing a prime: prime text + streamed pieces = the decoding of everything
    prime, rest = ids[:3], ids[3:]
    stream = lm.TextStream(tokenizer, context=prime)
    continued = "".join([stream.feed(i) for i in rest] + [stream.flush()])
    assert tokenizer.decode(prime) + continued == tokenizer.decode(ids)


def test_options_are_checked_before_anything_is_read(tmp_path):
    with pytest.raises(UserError, match="--data"):
        lm.train(lm.LMOptions(out=tmp_path / "run"))
    with pytest.raises(UserError, match="--cell 'transformer'"):
        lm.train(lm.LMOptions(data=tmp_path / "x.txt", out=tmp_path / "run", cell="transformer"))
    with pytest.raises(UserError, match="--dropout"):
        lm.train(lm.LMOptions(data=tmp_path / "x.txt", out=tmp_path / "run", dropout=1.0))
