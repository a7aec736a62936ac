"""The classify task end to end: text and numeric runs, transfer from an lm run, predictions,
metrics, and one clear error (exit code 2) for each bad input the issue lists, via the CLI."""

from __future__ import annotations

import csv
import dataclasses
import json
import random

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.data.labelled import stratified_split
from rnnkit.data.numeric import read_long_sequences
from rnnkit.errors import UserError
from rnnkit.tasks import classify
from rnnkit.training import write_config

POSITIVE = ["good", "great", "fine", "love", "nice"]
NEGATIVE = ["bad", "awful", "hate", "poor", "worst"]
FILLER = ["the", "a", "movie", "was", "it", "phone", "really", "so"]
FAST = {"progress": "off", "hidden": 16, "embedding_size": 16, "lr": 1e-2, "batch_size": 16}


def sentiment_rows(count: int, seed: int) -> list[tuple[str, str]]:
    """Texts of filler words with one sentiment word somewhere; the label follows that word."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        positive = rng.random() < 0.5
        words = [rng.choice(FILLER) for _ in range(rng.randint(2, 9))]
        words.insert(rng.randrange(len(words) + 1), rng.choice(POSITIVE if positive else NEGATIVE))
        rows.append((" ".join(words), "pos" if positive else "neg"))
    return rows


def write_csv(path, rows, header=("text", "label")):
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("classify")
    train = write_csv(root / "train.csv", sentiment_rows(240, seed=1))
    test = write_csv(root / "test.csv", sentiment_rows(100, seed=2))
    options = classify.ClassifyOptions(data=train, out=root / "run", epochs=4, seed=0, **FAST)
    return classify.train(options), test


def test_text_run_beats_the_majority_class_and_writes_its_files(text_run):
    run_dir, test = text_run
    for name in ("config.json", "model.safetensors", "tokenizer.json", "confusion.png"):
        assert (run_dir / name).is_file()
    labels = [row[1] for row in sentiment_rows(100, seed=2)]
    majority = max(labels.count("pos"), labels.count("neg")) / len(labels)
    metrics = classify.evaluate(run_dir, test)
    assert metrics["accuracy"] >= max(0.9, majority + 0.3)
    assert metrics["labels"] == ["neg", "pos"]


def test_evaluate_json_agrees_with_the_predictions_file(text_run, tmp_path):
    run_dir, test = text_run
    result = invoke("evaluate", run_dir, "--data", test, "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    output = tmp_path / "preds.csv"
    result = invoke("predict", run_dir, "--data", test, "--output", output)
    assert result.exit_code == 0, result.output
    with open(output, newline="") as file:
        rows = list(csv.DictReader(file))
    truth = [label for _, label in sentiment_rows(100, seed=2)]
    assert len(rows) == len(truth)
    for row in rows:
        probabilities = [float(row["p_neg"]), float(row["p_pos"])]
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
        assert row["predicted"] == ("pos" if probabilities[1] > probabilities[0] else "neg")
    predicted = [row["predicted"] for row in rows]
    correct = sum(p == t for p, t in zip(predicted, truth, strict=True))
    assert metrics["accuracy"] == pytest.approx(correct / len(truth))
    confusion = np.array(metrics["confusion"])
    assert confusion.sum() == len(truth)
    assert confusion[1, 1] == sum(p == t == "pos" for p, t in zip(predicted, truth, strict=True))


def test_predict_text_explains_with_attention_weights(text_run):
    run_dir, _ = text_run
    result = invoke("predict", run_dir, "--text", "it was so AWFUL really", "--explain", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["label"] == "neg"
    assert record["method"] == "attention"
    assert [token for token, _ in record["explanation"]] == ["it", "was", "so", "awful", "really"]
    weights = [weight for _, weight in record["explanation"]]
    assert sum(weights) == pytest.approx(1.0, abs=1e-5)


def test_gradient_saliency_matches_autograd_through_the_embedding_layer():
    model = classify.SequenceClassifier(2, vocab_size=12, embedding_size=5, hidden_size=4)
    model.pooling, model.attention = "mean", None
    model.eval()
    tokens = torch.tensor([3, 7, 1, 9])
    _, saliency, method = classify.explain_input(model, tokens)
    captured = {}

    def keep(module, inputs, output):
        output.retain_grad()
        captured["embedded"] = output

    handle = model.embedding.register_forward_hook(keep)
    logits = model(tokens.unsqueeze(0))
    handle.remove()
    logits[0, logits[0].argmax()].backward()
    norms = captured["embedded"].grad[0].norm(dim=-1)
    assert method == "saliency"
    torch.testing.assert_close(saliency, norms / norms.sum())


def test_stratified_split_holds_out_each_class_in_proportion():
    labels = ["a"] * 50 + ["b"] * 30 + ["c"] * 3
    train, val = stratified_split(labels, 0.2, seed=0)
    assert sorted(train + val) == list(range(len(labels)))
    held = [labels[i] for i in val]
    assert (held.count("a"), held.count("b"), held.count("c")) == (10, 6, 1)


def test_balanced_class_weights_match_scikit_learn():
    utils = pytest.importorskip("sklearn.utils")
    labels = np.array([0] * 7 + [1] * 2 + [2] * 1)
    expected = utils.compute_class_weight("balanced", classes=np.arange(3), y=labels)
    ours = classify.balanced_class_weights(torch.tensor(labels), 3)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-6)


def test_gradual_unfreezing_schedule():
    # three groups over three freeze epochs: none, one, two, then all three train
    schedule = [classify.unfrozen_groups(e, 3, 3) for e in range(5)]
    assert schedule == [0, 1, 2, 3, 3]
    assert [classify.unfrozen_groups(e, 1, 4) for e in range(2)] == [0, 4]


def test_resume_with_a_changed_model_option_is_refused_and_leaves_the_config(tmp_path):
    data = write_csv(tmp_path / "t.csv", sentiment_rows(40, seed=5))
    options = classify.ClassifyOptions(
        data=data, out=tmp_path / "run", max_steps=2, **{**FAST, "hidden": 8}
    )
    run_dir = classify.train(options)
    before = (run_dir / "config.json").read_bytes()
    changed = dataclasses.replace(options, resume=True, hidden=9)
    with pytest.raises(UserError, match="cannot resume"):
        classify.train(changed)
    assert (run_dir / "config.json").read_bytes() == before


def test_cli_empty_texts_are_skipped_with_a_count(tmp_path):
    rows = [("good", "pos"), ("  ", "neg"), ("", "neg"), ("bad", "neg")] * 3
    data = write_csv(tmp_path / "t.csv", rows)
    out = tmp_path / "run"
    result = invoke(
        "train",
        "classify",
        "--data",
        data,
        "--out",
        out,
        "--max-steps",
        1,
        "--hidden",
        4,
        "--progress",
        "off",
    )
    assert result.exit_code == 0, result.output
    assert "t.csv: skipped 6 rows with an empty text" in result.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["train_examples"] + config["data"]["val_examples"] == 6


# ------------------------------------------------------------------------ numeric sequences


def rising_or_falling(count: int, seed: int):
    """Sequences of 2 features on a large offset; class 1 when feature 0 rises over time."""
    rng = np.random.default_rng(seed)
    steps = 12
    x = rng.normal(0.0, 1.0, (count, steps, 2)) + 100.0
    y = rng.integers(0, 2, count)
    slope = np.where(y == 1, 1.0, -1.0)[:, None] * np.linspace(-3, 3, steps)[None, :]
    x[:, :, 0] += slope
    lengths = rng.integers(6, steps + 1, count)
    return x.astype(np.float32), y, lengths


def test_numeric_npz_run_standardises_and_beats_the_majority(tmp_path):
    x, y, lengths = rising_or_falling(160, seed=0)
    np.savez(tmp_path / "train.npz", x=x, y=y, lengths=lengths)
    vx, vy, vlengths = rising_or_falling(60, seed=1)
    np.savez(tmp_path / "val.npz", x=vx, y=vy, lengths=vlengths)
    options = classify.ClassifyOptions(
        data=tmp_path / "train.npz",
        val=tmp_path / "val.npz",
        out=tmp_path / "run",
        pooling="mean",
        epochs=4,
        seed=0,
        **FAST,
    )
    run_dir = classify.train(options)
    scaler = json.loads((run_dir / "scaler.json").read_text())
    real_steps = np.concatenate([x[i, : lengths[i]] for i in range(len(x))])
    np.testing.assert_allclose(scaler["mean"], real_steps.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(scaler["std"], real_steps.std(axis=0), rtol=1e-4)
    majority = max(np.mean(vy), 1 - np.mean(vy))
    accuracy = classify.evaluate(run_dir, tmp_path / "val.npz")["accuracy"]
    assert accuracy >= max(0.85, majority + 0.2)


def test_long_format_csv_via_the_cli(tmp_path):
    x, y, lengths = rising_or_falling(40, seed=2)
    rows = [
        (f"s{i}", t, float(x[i, t, 0]), float(x[i, t, 1]), f"class{y[i]}")
        for i in range(len(x))
        for t in range(lengths[i])
    ]
    random.Random(0).shuffle(rows)  # the time column puts the steps back in order
    data = write_csv(tmp_path / "long.csv", rows, header=("id", "t", "a", "b", "label"))
    out = tmp_path / "run"
    result = invoke(
        "train",
        "classify",
        "--data",
        data,
        "--out",
        out,
        "--sequence-column",
        "id",
        "--time-column",
        "t",
        "--max-steps",
        2,
        "--hidden",
        8,
        "--progress",
        "off",
    )
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["features"] == ["a", "b"]
    result = invoke("predict", out, "--data", data)
    assert result.exit_code == 0, result.output
    predictions = list(csv.DictReader(result.stdout.splitlines()))
    assert sorted(r["id"] for r in predictions) == sorted(f"s{i}" for i in range(len(x)))
    assert set(predictions[0]) == {"id", "predicted", "p_class0", "p_class1"}


def test_long_format_reader_orders_steps_by_time(tmp_path):
    path = write_csv(
        tmp_path / "long.csv",
        [("b", 2, 5.0, "x"), ("a", 1, 2.0, "y"), ("b", 1, 4.0, "x"), ("a", 0, 1.0, "y")],
        header=("id", "t", "v", "label"),
    )
    sequences = read_long_sequences(
        path, sequence_column="id", time_column="t", label_column="label", feature_columns=None
    )
    assert sequences.names == ["b", "a"]
    assert [s[:, 0].tolist() for s in sequences.sequences] == [[4.0, 5.0], [1.0, 2.0]]
    assert sequences.labels == ["x", "y"]


# ------------------------------------------------------------------------ transfer from an lm


def test_init_from_an_lm_run_copies_it_and_frozen_layers_stay_put(tmp_path):
    from rnnkit.tasks import lm

    text = " ".join(text for text, _ in sentiment_rows(150, seed=3))
    (tmp_path / "corpus.txt").write_text(text)
    lm_dir = lm.train(
        lm.LMOptions(
            data=tmp_path / "corpus.txt",
            out=tmp_path / "lm",
            hidden=12,
            layers=2,
            bptt=16,
            batch_size=4,
            max_steps=2,
            progress="off",
            eval_every=None,
            precision="fp32",
        )
    )
    train = write_csv(tmp_path / "train.csv", sentiment_rows(60, seed=4))
    options = classify.ClassifyOptions(
        data=train,
        out=tmp_path / "run",
        init_from=lm_dir,
        freeze_epochs=3,
        epochs=1,
        ensemble=1,
        **FAST,
    )
    run_dir = classify.train(options)
    pretrained = load_file(lm_dir / "model.safetensors")
    tuned = load_file(run_dir / "model.safetensors")
    # epoch 0 trains only the pooling and head: the embedding and both RNN layers are the lm's
    assert torch.equal(tuned["embedding.weight"], pretrained["embedding.weight"])
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        for layer in (0, 1):
            key = f"rnn.cells.{layer}.{name}"
            assert torch.equal(tuned[key], pretrained[key])
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model"]["bidirectional"] is False
    assert (run_dir / "tokenizer.json").read_text() == (lm_dir / "tokenizer.json").read_text()


# ------------------------------------------------------------------------ bad input, via the CLI


def _refused(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]


def _train(tmp_path, *args):
    return invoke("train", "classify", "--out", tmp_path / "run", "--progress", "off", *args)


def test_cli_missing_column_lists_the_existing_columns(tmp_path):
    data = write_csv(tmp_path / "t.csv", [("good", "pos")], header=("review", "label"))
    _refused(_train(tmp_path, "--data", data), "t.csv", "no column 'text'", "'review', 'label'")


def test_cli_all_texts_empty(tmp_path):
    data = write_csv(tmp_path / "t.csv", [("", "pos"), (" ", "neg")])
    _refused(_train(tmp_path, "--data", data), "t.csv", "every cell of column 'text' is empty")


def test_cli_single_class(tmp_path):
    data = write_csv(tmp_path / "t.csv", [("good", "pos"), ("fine", "pos")])
    _refused(_train(tmp_path, "--data", data), "t.csv", "single class ('pos')")


def test_cli_validation_label_never_seen_in_training(tmp_path):
    data = write_csv(tmp_path / "t.csv", [("good", "pos"), ("bad", "neg")])
    val = write_csv(tmp_path / "v.csv", [("meh", "neutral")])
    _refused(_train(tmp_path, "--data", data, "--val", val), "v.csv", "'neutral'", "never occurs")


def test_cli_wrong_delimiter_for_the_extension(tmp_path):
    data = tmp_path / "t.csv"
    data.write_text("text\tlabel\ngood\tpos\nbad\tneg\n")
    _refused(_train(tmp_path, "--data", data), "t.csv", "looks tab-separated", "t.tsv")


def test_cli_init_from_a_run_that_is_not_an_lm_run(tmp_path):
    data = write_csv(tmp_path / "t.csv", [("good", "pos"), ("bad", "neg")] * 3)
    other = tmp_path / "other"
    other.mkdir()
    write_config(other, "classify", options={})
    _refused(
        _train(tmp_path, "--data", data, "--init-from", other),
        "--init-from",
        "task 'classify', not 'lm'",
    )


# --- label smoothing, ensembles, character n-grams ------------------------------------------------


class FixedLogits(torch.nn.Module):
    """A model whose logits are given: row i of ``logits`` for the batch's i-th input."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.nn.Parameter(logits)

    def forward(self, inputs, lengths):
        return self.logits


def _objective(**options):
    inputs = [torch.tensor([1, 2])] * 3
    labels = torch.tensor([0, 2, 1])
    return classify.ClassificationObjective(
        inputs, labels, None, None, ["a", "b", "c"], batch_size=3, **options
    )


def test_label_smoothed_loss_matches_the_analytic_value():
    logits = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0], [-2.0, 1.0, 1.0]])
    labels, s, k = np.array([0, 2, 1]), 0.1, 3
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    # target: 1 - s + s / K on the true class, s / K on every other
    target = np.full_like(logits, s / k)
    target[np.arange(3), labels] += 1 - s
    expected = float(-(target * log_p).sum(axis=1).mean())
    objective = _objective(label_smoothing=s)
    batch = classify.make_batch([torch.tensor([1, 2])] * 3, torch.tensor(labels))
    model = FixedLogits(torch.tensor(logits, dtype=torch.float32))
    loss = objective.training_step(model, batch, None).loss
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    plain = _objective().training_step(model, batch, None).loss
    assert float(plain) == pytest.approx(float(-log_p[np.arange(3), labels].mean()), rel=1e-6)


def test_word_runs_carry_each_words_ngrams_and_an_unseen_word_gets_its_own(text_run):
    run_dir, _ = text_run
    run = classify.load_run(run_dir)
    hasher = run.encoder.ngrams
    assert hasher is not None and run.model.config()["ngram_buckets"] == hasher.buckets
    encoded = run.encoder.encode_text("good zyzzyva qwxq")
    assert encoded.shape == (3, 1 + hasher.max_per_word)
    assert encoded[:, 0].tolist() == run.encoder.tokenizer.encode("good zyzzyva qwxq")
    unk = run.encoder.tokenizer.unk_id
    assert encoded[1, 0] == encoded[2, 0] == unk  # both unseen, told apart by their n-grams
    assert encoded[1, 1:].tolist() == hasher.encode(["zyzzyva"])[0].tolist()
    model = run.model.members[0] if hasattr(run.model, "members") else run.model
    with torch.no_grad():
        vectors = model.embed(encoded.unsqueeze(0))[0]
    assert not torch.allclose(vectors[1], vectors[2])


def test_ensemble_of_one_is_a_single_classifier_and_options_are_checked(tmp_path):
    options = classify.ClassifyOptions(
        data=tmp_path / "x.csv", out=tmp_path / "run", ensemble=1, label_smoothing=0.2
    )
    assert options.validate().ensemble == 1
    with pytest.raises(UserError, match="label-smoothing"):
        dataclasses.replace(options, label_smoothing=1.0).validate()
    with pytest.raises(UserError, match="char-ngrams"):
        dataclasses.replace(options, char_ngrams=1).validate()


def test_an_ensemble_run_loads_as_one_and_predicts_the_mean_of_its_members(tmp_path):
    train = write_csv(tmp_path / "train.csv", sentiment_rows(80, seed=5))
    options = classify.ClassifyOptions(
        data=train, out=tmp_path / "run", epochs=1, ensemble=2, seed=0, **FAST
    )
    run = classify.load_run(classify.train(options))
    assert isinstance(run.model, classify.ClassifierEnsemble) and len(run.model.members) == 2
    x = run.encoder.encode_text("a good phone")
    with torch.no_grad():
        alone = [torch.softmax(m(x.unsqueeze(0)), -1)[0] for m in run.model.members]
    predicted = classify.predict_texts(run, ["a good phone"])[0].probabilities
    expected = torch.stack(alone).mean(0)
    assert [predicted[name] for name in run.class_names] == pytest.approx(expected.tolist())
