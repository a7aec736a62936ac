"""The translate task: learning a tiny reversal task, metrics against sacrebleu, the schedule."""

from __future__ import annotations

import random

import pytest
import sacrebleu
import torch

from rnnkit.data.synthetic import write_pairs_tsv
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
    baseline = tr.score_translations(outputs, [t for _, t in pairs])["exact_match"]

    run_dir = tr.train(options)
    metrics = tr.evaluate(run_dir, val)
    assert metrics["sentences"] == 100
    assert metrics["exact_match"] >= 0.8 > baseline + 0.5
    beam = tr.evaluate(run_dir, val, beam=4)
    assert beam["exact_match"] >= 0.8


def test_scores_equal_sacrebleu_called_directly():
    references = ["the cat sat on the mat .", "a dog runs", "2026-11-22", "hello world"]
    hypotheses = ["the cat sat on a mat .", "a dog  runs", "2026-11-21", "hello world"]
    scores = tr.score_translations(hypotheses, references)
    assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hypotheses, [references]).score)
    assert scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hypotheses, [references]).score)
    assert scores["exact_match"] == pytest.approx(2 / 4)  # spacing differences do not count
    assert tr.score_translations(references, references)["bleu"] == pytest.approx(100.0)


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
        allow: tr.score_translations(
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
