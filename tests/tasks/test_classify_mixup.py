"""Mixup of sentence vectors (--mixup): the mixed logits against the unmixed ones (the head is
affine), the loss against soft-target cross-entropy written out in NumPy, the draws against the
Beta law's moments, and the draws of a sharded batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.data.char_ngrams import CharNgramHasher
from rnnkit.data.word_ngrams import WordNgramHasher
from rnnkit.models.classifier import Mix, SequenceClassifier
from rnnkit.tasks import classify
from rnnkit.training.distributed import shard_batch


def test_mixed_logits_are_the_same_mix_of_the_unmixed_logits():
    # head(w a + (1 - w) b) = w head(a) + (1 - w) head(b) for an affine head, and the hybrid's
    # linear logits mix alike; so in eval mode (no dropout) the whole mix is in the logits
    options = classify.ClassifyOptions(data="x.csv", out="o", tokenizer="word")
    texts = ["a fine film", "not good at all", "the plot was thin", "great"]
    tokenizer = classify.fit_tokenizer(options, texts)
    encoder = classify.Encoder(
        tokenizer=tokenizer, ngrams=CharNgramHasher(64), word_ngrams=WordNgramHasher(101)
    )
    batch = classify.make_batch([encoder.encode_text(text) for text in texts])
    torch.manual_seed(0)
    model = SequenceClassifier(
        3, vocab_size=tokenizer.vocab_size, embedding_size=8, hidden_size=8,
        ngram_buckets=64, word_ngram_buckets=101, pooling="max_attention",
    ).eval()  # fmt: skip
    with torch.no_grad():
        model.word_ngrams.weight[1:].normal_()
        plain = model(batch["inputs"], batch["lengths"]).numpy()
        partner = torch.tensor([2, 0, 3, 1])
        mixed = model(batch["inputs"], batch["lengths"], mix=Mix(partner, 0.3)).numpy()
    np.testing.assert_allclose(mixed, 0.3 * plain + 0.7 * plain[[2, 0, 3, 1]], atol=1e-5)


class MixedLogits(torch.nn.Module):
    """Given logits, mixed as the classifier mixes its pooled vectors."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(logits)

    def forward(self, inputs, lengths, mix=None):
        return self.logits if mix is None else mix.apply(self.logits)


def test_the_mixup_loss_is_cross_entropy_against_the_mixed_smoothed_targets():
    logits = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0], [-2.0, 1.0, 1.0], [0.3, 0.0, -0.4]])
    labels, s, k = np.array([0, 2, 1, 1]), 0.1, 3
    objective = classify.ClassificationObjective(
        [torch.tensor([1, 2])] * 4, torch.tensor(labels), None, None, ["a", "b", "c"],
        batch_size=4, label_smoothing=s, mixup=0.4,
    )  # fmt: skip
    [batch] = objective.train_batches(0, torch.Generator().manual_seed(3))
    mix = classify.mix_of(batch)
    partner, w = mix.partner.numpy(), mix.weight
    assert sorted(partner) == [0, 1, 2, 3] and 0 <= w <= 1
    # the soft target of each row: its own smoothed one-hot and its partner's, mixed by w
    smoothed = np.full((4, k), s / k)
    smoothed[np.arange(4), labels] += 1 - s
    target = w * smoothed + (1 - w) * smoothed[partner]
    mixed_logits = w * logits + (1 - w) * logits[partner]
    log_p = mixed_logits - np.log(np.exp(mixed_logits).sum(axis=1, keepdims=True))
    expected = float(-(target * log_p).sum(axis=1).mean())
    batch = {**batch, "labels": torch.tensor(labels)}  # the objective's batch order
    model = MixedLogits(torch.tensor(logits, dtype=torch.float32))
    loss = objective.training_step(model, batch, None).loss
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)


def test_mixup_weights_follow_the_beta_law_and_repeat_with_the_generator():
    alpha, draws = 0.4, 4000
    generator = torch.Generator().manual_seed(0)
    weights = np.array(
        [float(classify.mixup_draw(2, alpha, generator)["mix_weight"][0]) for _ in range(draws)]
    )
    # Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1))
    assert weights.min() >= 0 and weights.max() <= 1
    assert weights.mean() == pytest.approx(0.5, abs=0.02)
    assert weights.var() == pytest.approx(1 / (4 * (2 * alpha + 1)), rel=0.08)
    one = classify.mixup_draw(8, alpha, torch.Generator().manual_seed(5))
    two = classify.mixup_draw(8, alpha, torch.Generator().manual_seed(5))
    for name in one:
        assert torch.equal(one[name], two[name])
    assert (one["mix_weight"] == one["mix_weight"][0]).all()  # one weight for the batch


def test_each_shard_of_a_mixed_batch_pairs_its_own_rows():
    batch = classify.make_batch([torch.tensor([1, 2, 3])] * 7, torch.arange(7) % 2)
    batch |= classify.mixup_draw(7, 0.4, torch.Generator().manual_seed(1))
    whole = classify.mix_of(batch)
    assert sorted(whole.partner.tolist()) == list(range(7))
    for rank in range(2):
        shard = shard_batch(batch, rank, 2)
        mix = classify.mix_of(shard)
        assert sorted(mix.partner.tolist()) == list(range(len(shard["labels"])))
        assert mix.weight == whole.weight


# --- adversarial training ---------------------------------------------------------------------


def test_the_adversarial_shift_has_the_asked_norm_and_the_gradients_direction():
    generator = torch.Generator().manual_seed(0)
    gradient = torch.randn(3, 5, 4, generator=generator)
    embedded = torch.randn(3, 5, 4, generator=generator)
    lengths = torch.tensor([5, 2, 3])
    for row in range(3):
        gradient[row, lengths[row] :] = 0  # padded steps get no gradient
    shift = classify.adversarial_shift(gradient, embedded, lengths, 0.1).numpy()
    for row, length in enumerate(lengths.tolist()):
        size = np.linalg.norm(embedded[row, :length].numpy())  # the real steps only
        assert np.linalg.norm(shift[row]) == pytest.approx(0.1 * size, rel=1e-5)
        cosine = (shift[row] * gradient[row].numpy()).sum() / (
            np.linalg.norm(shift[row]) * np.linalg.norm(gradient[row].numpy())
        )
        assert cosine == pytest.approx(1.0, abs=1e-6)


def test_the_adversarial_shift_raises_the_loss_more_than_random_shifts_of_its_size():
    torch.manual_seed(0)
    model = SequenceClassifier(2, vocab_size=20, embedding_size=6, hidden_size=5).eval()
    inputs = torch.randint(1, 20, (4, 7))
    lengths, labels = torch.tensor([7, 5, 6, 3]), torch.tensor([0, 1, 1, 0])

    def loss_with(shift: torch.Tensor) -> float:
        logits = model(inputs, lengths, shift=shift)
        return float(torch.nn.functional.cross_entropy(logits, labels, reduction="sum"))

    probe = torch.zeros(4, 7, 6, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(model(inputs, lengths, shift=probe), labels)
    (gradient,) = torch.autograd.grad(loss, probe)
    with torch.no_grad():
        embedded = model.embed(inputs)
        shift = classify.adversarial_shift(gradient, embedded, lengths, 0.01)
        base = loss_with(torch.zeros_like(shift))
        raised = loss_with(shift) - base
        assert raised > 0
        mask = torch.arange(7)[None, :, None] < lengths[:, None, None]
        for seed in range(20):
            noise = torch.randn(4, 7, 6, generator=torch.Generator().manual_seed(seed)) * mask
            scale = shift.flatten(1).norm(dim=1) / noise.flatten(1).norm(dim=1)
            assert loss_with(noise * scale[:, None, None]) - base < raised


@pytest.mark.parametrize("name, value", [("mixup", 0.4), ("adversarial", 0.05)])
def test_a_run_with_either_learns_and_a_negative_value_is_one_sentence(tmp_path, name, value):
    rows = [("good film", "pos"), ("bad film", "neg"), ("great plot", "pos"), ("awful plot", "neg")]
    data = tmp_path / "train.csv"
    data.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows * 12))
    common = ["train", "classify", "--data", data, "--progress", "off", "--hidden", "8",
              "--embedding-size", "8", "--epochs", "10", "--ensemble", "1"]  # fmt: skip
    flag = f"--{name}"
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [str(a) for a in [*common, "--out", out, flag, value]])
    assert result.exit_code == 0, result.output
    assert classify.load_run(out).config["options"][name] == value
    predictions = classify.predict_texts(out, ["good plot", "awful film"])
    assert [p.label for p in predictions] == ["pos", "neg"]
    refused = CliRunner().invoke(
        app, [str(a) for a in [*common, "--out", tmp_path / "bad", flag, -value]]
    )
    assert refused.exit_code == 2
    assert f"{flag} must be a number >= 0" in refused.output
    assert "Traceback" not in refused.output
    assert not (tmp_path / "bad").exists()
