"""The translate task: learning a tiny reversal task, the schedule, resuming, describing.

The metrics are tested against sacrebleu in ``tests/metrics/test_translation_metrics.py``, the
decoding settings in ``tests/decoding/test_decoding_settings.py``.
"""

from __future__ import annotations

import dataclasses
import json
import random

import pytest
import torch

from rnnkit.data.synthetic import write_pairs_tsv
from rnnkit.metrics.translation import score_translations
from rnnkit.tasks import translate as tr


def reversal_pairs(count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pairs = []
    for _ in range(count):
        letters = [rng.choice("abcdef") for _ in range(rng.randint(2, 6))]
        pairs.append((" ".join(letters), " ".join(reversed(letters))))
    return pairs


def test_learns_to_reverse_far_better_than_untrained(tmp_path):
    train = write_pairs_tsv(reversal_pairs(2000, seed=0), tmp_path / "train.tsv")
    val = write_pairs_tsv(reversal_pairs(100, seed=1), tmp_path / "val.tsv")
    options = tr.TranslateOptions(
        data=train,
        val=val,
        out=tmp_path / "run",
        tokenizer="word",
        min_count=1,
        embedding_size=16,
        encoder_hidden=32,
        encoder_layers=1,
        decoder_hidden=64,
        batch_size=32,
        dropout=0.0,
        label_smoothing=0.0,
        lr=0.01,
        max_steps=150,
        eval_every=150,
        patience=None,
        precision="fp32",
        progress="off",
        beam=1,
    )
    # The baseline: the same model, initialised from the same seed, without training.
    pairs = tr.read_pairs(val)
    source_tokenizer, target_tokenizer = tr.fit_tokenizers(options, tr.read_pairs(train))
    untrained = tr.build_model(options, source_tokenizer, target_tokenizer).eval()
    encoded = tr.encode_sources([s for s, _ in pairs], source_tokenizer, 200, what="val")
    outputs = tr.decode(
        untrained,
        encoded,
        target_tokenizer,
        beam=1,
        length_penalty=0.0,
        max_length_ratio=2.0,
        max_target_length=200,
        no_repeat_ngram=0,
    )
    baseline = score_translations(outputs, [t for _, t in pairs])["exact_match"]

    run_dir = tr.train(options)
    metrics = tr.evaluate(run_dir, val)
    assert metrics["sentences"] == 100
    assert metrics["exact_match"] >= 0.8 > baseline + 0.5
    beam = tr.evaluate(run_dir, val, beam=4)
    assert beam["exact_match"] >= 0.8


def test_teacher_forcing_decays_linearly_then_stays():
    constant = tr.TranslateOptions(teacher_forcing=0.9)
    assert constant.teacher_forcing_at(0) == constant.teacher_forcing_at(50) == 0.9
    scheduled = tr.TranslateOptions(
        teacher_forcing=1.0, teacher_forcing_end=0.5, teacher_forcing_decay_epochs=4
    )
    assert [scheduled.teacher_forcing_at(e) for e in (0, 1, 2, 4, 9)] == pytest.approx(
        [1.0, 0.875, 0.75, 0.5, 0.5]
    )


def test_long_sources_are_truncated_with_one_warning():
    from rnnkit.data.tokenizers import CharTokenizer

    tokenizer = CharTokenizer.train("abc")
    warnings: list[str] = []
    encoded = tr.encode_sources(
        ["ab", "abcabcabc", "cccccc"], tokenizer, 5, what="test.txt", warn=warnings.append
    )
    assert [len(ids) for ids in encoded] == [3, 5, 5]
    assert all(ids[-1] == tokenizer.eos_id for ids in encoded)
    assert len(warnings) == 1
    assert "2 sources" in warnings[0] and "test.txt" in warnings[0] and "sentence 2" in warnings[0]


def briefly_trained_options(tmp_path, **options) -> tr.TranslateOptions:
    """Options of a tiny model trained for a step or two on 200 reversal pairs."""
    train = write_pairs_tsv(reversal_pairs(200, seed=0), tmp_path / "train.tsv")
    settings = dict(
        embedding_size=8,
        encoder_hidden=8,
        encoder_layers=1,
        decoder_hidden=16,
        max_steps=2,
        precision="fp32",
        progress="off",
    )
    settings.update(options)
    return tr.TranslateOptions(data=train, out=tmp_path / "run", **settings)


def test_shared_bpe_vocabulary_run_loads_with_one_embedding(tmp_path):
    options = briefly_trained_options(
        tmp_path, tokenizer="bpe", vocab_size=300, shared_vocab=True, batch_size=32
    )
    run = tr.load_run(tr.train(options))
    assert run.model.source_embedding is run.model.target_embedding
    assert run.source_tokenizer.to_dict() == run.target_tokenizer.to_dict()
    assert tr.translate(tmp_path / "run", ["a b c", ""], beam=2)[1] == ""


def test_options_stored_before_tied_embeddings_existed_read_as_untied(tmp_path):
    stored = tr.TranslateOptions(data=tmp_path / "a.tsv", out=tmp_path / "run").to_dict()
    assert stored["tie_embeddings"] is True  # today's default, written into new runs
    assert tr.TranslateOptions.from_dict(stored).tie_embeddings is True
    del stored["tie_embeddings"]  # a run written before the option existed had no tied layer
    assert tr.TranslateOptions.from_dict(stored).tie_embeddings is False


def test_outputs_hold_no_unknown_token_unless_allowed(tmp_path):
    """A word-level run whose output layer is rigged to prefer ``<unk>``: translate and
    validation never emit it by default; ``allow_unknown`` lets it through."""
    options = briefly_trained_options(tmp_path, min_count=1, max_steps=1)
    run_dir = tr.train(options)
    run = tr.load_run(run_dir)
    assert run.options.allow_unknown is False
    with torch.no_grad():
        run.model.output_bias[run.target_tokenizer.unk_id] = 50.0
    texts = ["a b c", "f e"]
    for beam in (1, 3):
        allowed = tr.translate(run_dir, texts, run=run, beam=beam, allow_unknown=True)
        assert all("<unk>" in t for t in allowed)
        banned = tr.translate(run_dir, texts, run=run, beam=beam)
        assert all(t and "<unk>" not in t for t in banned)
    # validation decodes as the option says
    pairs = [("a b c", "c b a"), ("f e", "e f")]
    encoded = tr.encode_pairs(
        pairs, run.source_tokenizer, run.target_tokenizer, options, what="val"
    )
    objective = tr.TranslationObjective(encoded, encoded, options, run.target_tokenizer)
    expected = {
        allow: score_translations(
            tr.translate(run_dir, [s for s, _ in pairs], run=run, beam=1, allow_unknown=allow),
            [t for _, t in pairs],
        )["chrf"]
        for allow in (False, True)
    }
    assert expected[False] != expected[True]
    assert objective.evaluate(run.model)["chrf"] == pytest.approx(expected[False])
    stored = run.options.to_dict()
    del stored["allow_unknown"]  # a run stored before the option existed forbids it too
    assert tr.TranslateOptions.from_dict(stored).allow_unknown is False


def test_a_resume_must_keep_the_options_that_fix_the_model_and_the_data():
    """The fixed options are those of the explicit ``model_options()`` they replace, seed, and the
    weight average (a checkpoint holds the average only when the run keeps one)."""
    fixed = tr.TranslateOptions().model_options()
    assert set(fixed) == {
        "tokenizer", "shared_vocab", "vocab_size", "min_count", "lowercase",
        "max_source_length", "max_target_length", "cell", "embedding_size",
        "encoder_hidden", "encoder_layers", "bidirectional", "decoder_hidden",
        "decoder_layers", "attention", "attention_size", "input_feeding", "bridge",
        "dropout", "tie_embeddings", "batch_size", "seed", "weight_average", "ema_decay",
    }  # fmt: skip


def test_resume_reads_the_runs_tokenizers_instead_of_fitting_new_ones(tmp_path):
    options = briefly_trained_options(tmp_path, min_count=1, max_steps=1, checkpoint_every=1)
    run_dir = tr.train(options)
    files = (tr.SOURCE_TOKENIZER_FILE, tr.TARGET_TOKENIZER_FILE)
    stored = {name: (run_dir / name).read_bytes() for name in files}
    # Words the run's vocabularies lack: tokenizers fitted on these pairs would be larger, and
    # the checkpoint would not fit the model built for them.
    more = write_pairs_tsv([("x y z", "z y x")] * 20 + reversal_pairs(20, 2), tmp_path / "more.tsv")
    resumed = dataclasses.replace(options, data=more, max_steps=2, resume=True)
    tr.train(resumed)
    assert {name: (run_dir / name).read_bytes() for name in files} == stored
    run = tr.load_run(run_dir)
    assert run.config["results"]["step"] == 2
    assert run.source_tokenizer.encode("x") == [run.source_tokenizer.unk_id]


def test_training_warnings_go_to_the_warn_given(tmp_path, capsys):
    options = briefly_trained_options(tmp_path, max_steps=1, max_source_length=5)
    warnings: list[str] = []
    tr.train(options, warn=warnings.append)
    assert len(warnings) == 1, warnings  # reversal sources have up to 6 letters: some are cut
    assert "truncated" in warnings[0] and str(options.data) in warnings[0]
    assert "warning:" not in capsys.readouterr().err


def test_describe_shows_the_model_tokenizers_data_training_and_decoding(tmp_path):
    options = briefly_trained_options(tmp_path, min_count=1, max_steps=1, beam=3)
    run_dir = tr.train(options)
    description = tr.describe(run_dir)
    assert set(description) == {
        "task", "run_dir", "model", "tokenizers", "data", "training", "decoding", "metrics",
    }  # fmt: skip
    assert description["task"] == "translate" and description["run_dir"] == str(run_dir)
    model = tr.load_run(run_dir).model
    assert description["model"] == {
        "cell": "gru", "embedding_size": 8, "encoder_hidden": 8, "encoder_layers": 1,
        "bidirectional": True, "decoder_hidden": 16, "decoder_layers": 1,
        "attention": "bahdanau", "input_feeding": True, "bridge": "linear", "dropout": 0.2,
        "parameters": sum(p.numel() for p in model.parameters()),
    }  # fmt: skip
    stored = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    assert description["tokenizers"] == stored["tokenizers"]
    assert description["tokenizers"]["kind"] == "word"
    assert description["data"] == {
        "train_file": str(options.data), "val_file": None, "train_pairs": 200, "val_pairs": 0,
    }  # fmt: skip
    assert set(description["training"]) == {
        "precision", "batch_size", "lr", "label_smoothing", "teacher_forcing",
        "steps", "epochs", "seconds", "stopped_by",
    }  # fmt: skip
    assert description["training"]["steps"] == 1
    assert description["decoding"] == {
        "beam": 3, "length_penalty": 1.0, "max_length_ratio": 2.0, "no_repeat_ngram": 0,
        "allow_unknown": False,
    }  # fmt: skip
