"""ULMFiT's recipe in classify: LM pretraining of the classifier's own encoder, discriminative
learning rates, gradual unfreezing, and the bad unlabelled files it refuses."""

from __future__ import annotations

import math
import multiprocessing
import os
import random
import signal
from collections import Counter

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.data.char_ngrams import CharNgramHasher
from rnnkit.models.classifier import SequenceClassifier
from rnnkit.tasks import classify, text_pretraining
from rnnkit.tasks.text_pretraining import PretrainSettings
from rnnkit.training import Trainer, checkpoint

NOUNS = ["phone", "movie", "food", "screen", "battery", "plot"]
ADJECTIVES = ["good", "bad", "great", "awful"]


def template_texts(count: int, seed: int) -> list[str]:
    """Sentences whose words follow each other predictably ("the X was really Y ."), so a model
    that reads the context predicts far better than the words' frequencies alone."""
    rng = random.Random(seed)
    return [f"the {rng.choice(NOUNS)} was really {rng.choice(ADJECTIVES)} ." for _ in range(count)]


def labelled_rows(count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        adjective = rng.choice(ADJECTIVES)
        label = "pos" if adjective in ("good", "great") else "neg"
        rows.append((f"the {rng.choice(NOUNS)} was {adjective}", label))
    return rows


def write_csv(path, rows):
    lines = ["text,label", *(f"{text},{label}" for text, label in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def unigram_entropy(ids: torch.Tensor) -> float:
    """Nats per token of the best model that ignores context: the tokens' own frequencies."""
    counts = np.array(list(Counter(ids.tolist()).values()), dtype=float)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def tiny_classifier(vocab_size: int, ngram_buckets: int) -> SequenceClassifier:
    return SequenceClassifier(
        2,
        vocab_size=vocab_size,
        embedding_size=16,
        hidden_size=16,
        bidirectional=True,
        pooling="max_attention",
        ngram_buckets=ngram_buckets,
    )


# ------------------------------------------------------------------------ the language model


def test_pretraining_lowers_the_language_model_loss_below_the_unigram_entropy():
    torch.manual_seed(0)
    texts = template_texts(100, seed=0)
    options = classify.ClassifyOptions(data="x.csv", out="o", tokenizer="word")
    tokenizer = classify.fit_tokenizer(options, texts)
    hasher = CharNgramHasher(512)
    model = tiny_classifier(tokenizer.vocab_size, hasher.buckets)
    embedding_before = model.embedding.weight.detach().clone()
    report = text_pretraining.pretrain_classifier(
        model, tokenizer, hasher, texts, texts, PretrainSettings(epochs=25, progress="off")
    )
    stream = text_pretraining.token_stream(tokenizer, texts)
    floor = unigram_entropy(stream)  # what frequencies alone achieve (about 2.1 nats here)
    assert report["tokens"] == stream.numel() == 100 * 7  # six words and the end token each
    for direction in ("forward", "backward"):
        before, after = (report[direction][k] for k in ("val_loss_before", "val_loss_after"))
        # untrained: about uniform over the vocabulary; pretrained: well below the unigram floor
        assert abs(before - math.log(tokenizer.vocab_size)) < 0.5, before
        assert after < floor - 0.5, (after, floor)
    # the classifier itself was trained in place (its embedding is the language model's)
    assert not torch.equal(model.embedding.weight, embedding_before)


def test_the_ngram_table_holds_each_words_ngrams_and_none_for_special_tokens():
    texts = ["the phone was good"]
    options = classify.ClassifyOptions(data="x.csv", out="o", tokenizer="word")
    tokenizer = classify.fit_tokenizer(options, texts)
    hasher = CharNgramHasher(97)
    table = text_pretraining.ngram_table(tokenizer, hasher)
    assert table.shape == (tokenizer.vocab_size, hasher.max_per_word)
    for special in (tokenizer.pad_id, tokenizer.unk_id, tokenizer.bos_id, tokenizer.eos_id):
        assert not table[special].any()
    word_id = tokenizer.encode("phone")[0]
    assert torch.equal(table[word_id], hasher.encode(["phone"])[0])


# ------------------------------------------------------------------------ fine-tuning


def test_discriminative_groups_divide_the_rate_by_the_factor_per_group_down_to_the_embedding():
    model = tiny_classifier(30, 64)
    model.rnn = type(model.rnn)("lstm", 16, 16, num_layers=2, bidirectional=True)
    groups = text_pretraining.discriminative_groups(model, 2.6)
    embedding, layer0, layer1, rest = groups
    assert embedding["lr_scale"] == pytest.approx(1 / 2.6**3)
    assert layer0["lr_scale"] == pytest.approx(1 / 2.6**2)
    assert layer1["lr_scale"] == pytest.approx(1 / 2.6)
    assert rest["lr_scale"] == 1.0
    ids = lambda group: {id(p) for p in group["params"]}  # noqa: E731
    assert ids(embedding) == {id(model.embedding.weight), id(model.ngrams.embedding.weight)}
    assert ids(layer0) == {id(p) for c in model.rnn.cells[:2] for p in c.parameters()}
    assert ids(layer1) == {id(p) for c in model.rnn.cells[2:] for p in c.parameters()}
    head = [*model.attention.parameters(), *model.head.parameters()]
    assert ids(rest) == {id(p) for p in head}
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def hand_slanted(step: int, total: int, lr: float) -> float:
    """ULMFiT's eq. 3 (cut_frac 0.1, ratio 32), written from the paper."""
    cut = math.floor(total * 0.1)
    p = step / cut if step < cut else 1 - (step - cut) / (cut * (1 / 0.1 - 1))
    return lr * (1 + max(p, 0) * 31) / 32


def test_fine_tuning_unfreezes_one_group_per_epoch_at_discriminative_slanted_rates(tmp_path):
    rows = labelled_rows(64, seed=0)
    options = classify.ClassifyOptions(
        data=write_csv(tmp_path / "train.csv", rows),
        out=tmp_path / "run",
        pretrain_lm=True,
        pretrain_epochs=1,
        lr_factor=2.6,
        hidden=8,
        embedding_size=8,
        batch_size=16,
        epochs=4,
        lr=0.01,
        progress="off",
        ensemble=1,
    )
    options.validate()
    prepared = classify.TASK_SPEC.prepare(options, None)
    model, objective = prepared.model, prepared.objective
    embedding_group, rnn_group = model.pretrained_groups()
    head = [*model.attention.parameters(), *model.head.parameters()]
    seen: list[tuple[int, bool, bool, bool, list[float]]] = []
    start_of_epoch: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    original = objective.training_step

    def recording_step(m, batch, carry):
        if objective.epoch not in start_of_epoch:
            start_of_epoch[objective.epoch] = (
                model.embedding.weight.detach().clone(),
                model.rnn.cells[0].weight_hh.detach().clone(),
            )
        result = original(m, batch, carry)  # sets which groups train this epoch
        rates = [group["lr"] for group in trainer.optimizer.param_groups]
        trains = lambda params: all(p.requires_grad for p in params)  # noqa: E731
        seen.append(
            (objective.epoch, trains(embedding_group), trains(rnn_group), trains(head), rates)
        )
        return result

    objective.training_step = recording_step
    trainer = Trainer(model, objective, options.train_options(), tmp_path / "run")
    trainer.fit()

    per_epoch = objective.batches_per_epoch()
    total = 4 * per_epoch
    assert [s[0] for s in seen] == [e for e in range(4) for _ in range(per_epoch)]
    for step, (epoch, embedding_trains, rnn_trains, head_trains, rates) in enumerate(seen):
        # epoch 0: the head alone; 1: and the RNN; 2 on: and the embedding
        assert (embedding_trains, rnn_trains, head_trains) == (epoch >= 2, epoch >= 1, True)
        peak = hand_slanted(step, total, 0.01)
        assert rates == pytest.approx([peak / 2.6**2, peak / 2.6, peak])
    # frozen means unchanged: the embedding through epochs 0 and 1, the RNN through epoch 0
    assert torch.equal(start_of_epoch[0][0], start_of_epoch[2][0])
    assert torch.equal(start_of_epoch[0][1], start_of_epoch[1][1])
    assert not torch.equal(start_of_epoch[1][1], start_of_epoch[2][1])


def test_slanted_schedule_is_the_default_with_pretraining_only_in_place_of_constant():
    base = {"data": "t.csv", "out": "o"}
    assert classify.ClassifyOptions(**base).train_options().schedule == "constant"
    assert classify.ClassifyOptions(**base, pretrain_lm=True).train_options().schedule == "slanted"
    unlabelled = classify.ClassifyOptions(**base, unlabelled="u.txt")
    assert unlabelled.pretrains and unlabelled.train_options().schedule == "slanted"
    chosen = classify.ClassifyOptions(**base, pretrain_lm=True, schedule="cosine")
    assert chosen.train_options().schedule == "cosine"


# ------------------------------------------------------------------------ runs, via the CLI


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def train_args(data, out, *more):
    return [
        "train", "classify", "--data", data, "--out", out, "--progress", "off",
        "--hidden", "8", "--embedding-size", "8", "--batch-size", "8", "--pretrain-epochs", "1",
        "--ensemble", "1", *more,
    ]  # fmt: skip


def test_an_unlabelled_run_records_its_pretraining_and_predicts(tmp_path):
    data = write_csv(tmp_path / "train.csv", labelled_rows(48, seed=1))
    unlabelled = tmp_path / "more.txt"
    unlabelled.write_text("\n".join(template_texts(30, seed=2) + ["a brand new word"]) + "\n")
    out = tmp_path / "run"
    result = invoke(*train_args(data, out, "--unlabelled", unlabelled, "--epochs", "2"))
    assert result.exit_code == 0, result.output
    run = classify.load_run(out)
    report = run.config["data"]["pretraining"]
    assert report["texts"] == 43 + 31  # 90% of the labelled texts, and every unlabelled line
    assert report["unlabelled_file"] == str(unlabelled)
    assert report["forward"]["val_loss_after"] < report["forward"]["val_loss_before"]
    # the vocabulary covers the unlabelled words too
    assert run.encoder.tokenizer.encode("brand")[0] != run.encoder.tokenizer.unk_id
    assert run.config["options"]["pretrain_lm"] is False
    assert invoke("predict", out, "--text", "the food was great").exit_code == 0
    assert invoke("evaluate", out, "--data", data).exit_code == 0


def _refused(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize(
    ("content", "problem"),
    [(b"", "is empty"), (b"  \n\n", "only whitespace"), (b"caf\xe9 ok\n", "not valid utf-8")],
)
def test_a_bad_unlabelled_file_exits_2_naming_it_and_writes_nothing(tmp_path, content, problem):
    data = write_csv(tmp_path / "train.csv", labelled_rows(20, seed=1))
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    out = tmp_path / "run"
    _refused(invoke(*train_args(data, out, "--unlabelled", bad)), str(bad))
    assert problem in invoke(*train_args(data, out, "--unlabelled", bad)).stderr.lower()
    assert not out.exists()


def test_pretraining_options_that_do_not_fit_are_refused(tmp_path):
    data = write_csv(tmp_path / "train.csv", labelled_rows(20, seed=1))
    out = tmp_path / "run"
    _refused(invoke(*train_args(data, out, "--lr-factor", "0.5")), "--lr-factor")
    _refused(
        invoke(*train_args(data, out, "--pretrain-lm", "--init-from", tmp_path)), "--init-from"
    )
    assert not out.exists()


def _train_until_blocked(argv: list[str], run_dir: str, block_at_step: int) -> None:
    """Train in a forked child that stops itself before writing the run's checkpoint of step
    ``block_at_step`` (the pretraining's own checkpoints, elsewhere, pass)."""
    import rnnkit.training.trainer as trainer_module

    original = checkpoint.save_checkpoint

    def save_or_hang(path, state, tensors):
        if str(path).startswith(run_dir) and state["step"] >= block_at_step:
            os.kill(os.getpid(), signal.SIGSTOP)
        original(path, state, tensors)

    trainer_module.save_checkpoint = save_or_hang
    os._exit(CliRunner().invoke(app, argv).exit_code)


def test_a_pretrained_run_killed_mid_fine_tuning_resumes_to_the_same_weights(tmp_path):
    data = write_csv(tmp_path / "train.csv", labelled_rows(48, seed=3))
    more = ["--max-steps", "6", "--checkpoint-every", "2"]
    whole = invoke(*train_args(data, tmp_path / "whole", "--pretrain-lm", *more))
    assert whole.exit_code == 0, whole.output

    killed = tmp_path / "killed"
    argv = [str(a) for a in train_args(data, killed, "--pretrain-lm", *more)]
    child = multiprocessing.get_context("fork").Process(
        target=_train_until_blocked, args=(argv, str(killed), 4)
    )
    child.start()
    _, status = os.waitpid(child.pid, os.WUNTRACED)
    assert os.WIFSTOPPED(status), status
    os.kill(child.pid, signal.SIGKILL)
    child.join(timeout=30)
    assert checkpoint.load_checkpoint(checkpoint.checkpoint_path(killed)).state["step"] == 2

    resumed = invoke(*train_args(data, killed, "--pretrain-lm", *more), "--resume")
    assert resumed.exit_code == 0, resumed.output
    got, want = (
        load_file(killed / "model.safetensors"),
        load_file(tmp_path / "whole" / "model.safetensors"),
    )
    assert got.keys() == want.keys()
    for name in want:
        assert torch.equal(got[name], want[name]), name
