"""The tag task end to end: training on CoNLL, entity F1 above a per-word baseline, predictions
as token/TAG pairs, evaluate agreeing with the predictions file, and bad input via the CLI."""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict

import pytest
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.metrics.classification import entity_metrics
from rnnkit.tasks import tag

TRAIN_NAMES = ["Anna", "Boris", "Carla", "Dmitri", "Elena", "Felix"]
TEST_NAMES = ["Greta", "Hugo", "Ines", "Jonas"]  # never seen in training
CITIES = ["Paris", "Rome", "Oslo", "Lima"]


def sentences(names, count, seed):
    """'<name> visits <city> today' style sentences: the person is known by position only."""
    rng = random.Random(seed)
    verbs = ["visits", "leaves", "likes", "sees"]
    result = []
    for _ in range(count):
        name, city = rng.choice(names), rng.choice(CITIES)
        pairs = [(name, "B-PER"), (rng.choice(verbs), "O"), (city, "B-LOC")]
        if rng.random() < 0.5:
            pairs.append(("today", "O"))
        result.append(pairs)
    return result


def write_conll(path, data):
    lines = []
    for sentence in data:
        lines.extend(f"{token}\t{label}" for token, label in sentence)
        lines.append("")
    path.write_text("\n".join(lines) + "\n")
    return path


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def tag_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("tag")
    train = write_conll(root / "train.conll", sentences(TRAIN_NAMES, 80, seed=0))
    test = write_conll(root / "test.conll", sentences(TEST_NAMES, 30, seed=1))
    options = tag.TagOptions(
        data=train,
        out=root / "run",
        epochs=6,
        hidden=16,
        embedding_size=16,
        char_hidden=8,
        lr=1e-2,
        batch_size=16,
        progress="off",
        seed=0,
    )
    return tag.train(options), train, test


def per_word_baseline(train_data, test_data):
    """Each word's most frequent training tag; unseen words get the most frequent tag overall."""
    counts = defaultdict(Counter)
    overall = Counter()
    for sentence in train_data:
        for token, label in sentence:
            counts[token][label] += 1
            overall[label] += 1
    default = overall.most_common(1)[0][0]
    return [
        [counts[t].most_common(1)[0][0] if t in counts else default for t, _ in sentence]
        for sentence in test_data
    ]


def test_tagger_finds_unseen_names_better_than_a_per_word_baseline(tag_run):
    run_dir, _, test = tag_run
    test_data = sentences(TEST_NAMES, 30, seed=1)
    truth = [[label for _, label in s] for s in test_data]
    baseline = entity_metrics(truth, per_word_baseline(sentences(TRAIN_NAMES, 80, 0), test_data))
    metrics = tag.evaluate(run_dir, test)
    assert metrics["f1"] >= max(0.9, baseline["f1"] + 0.2)
    assert metrics["sentences"] == 30


def test_evaluate_json_agrees_with_the_predictions_file(tag_run, tmp_path):
    run_dir, _, test = tag_run
    result = invoke("evaluate", run_dir, "--data", test, "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    output = tmp_path / "predicted.conll"
    result = invoke("predict", run_dir, "--data", test, "--output", output)
    assert result.exit_code == 0, result.output
    predicted = [line.split("\t") for line in output.read_text().splitlines() if line]
    truth = [pair for s in sentences(TEST_NAMES, 30, seed=1) for pair in s]
    assert [token for token, _ in predicted] == [token for token, _ in truth]
    correct = sum(p[1] == t[1] for p, t in zip(predicted, truth, strict=True))
    assert metrics["accuracy"] == pytest.approx(correct / len(truth))


def test_predict_text_prints_token_tag_pairs(tag_run):
    run_dir, _, _ = tag_run
    result = invoke("predict", run_dir, "--text", "Hugo likes Oslo")
    assert result.exit_code == 0, result.output
    pairs = [piece.rsplit("/", 1) for piece in result.stdout.split()]
    assert [token for token, _ in pairs] == ["Hugo", "likes", "Oslo"]
    assert pairs[2][1] == "B-LOC"
    assert all(label in {"O", "B-PER", "B-LOC"} for _, label in pairs)


def test_cli_line_without_a_tag_is_refused(tmp_path):
    data = tmp_path / "bad.conll"
    data.write_text("Anna\tB-PER\nvisits\n")
    result = invoke("train", "tag", "--data", data, "--out", tmp_path / "run")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and "bad.conll line 2" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_validation_tag_never_seen_in_training(tmp_path):
    train = write_conll(tmp_path / "train.conll", sentences(TRAIN_NAMES, 4, seed=0))
    val = write_conll(tmp_path / "val.conll", [[("Acme", "B-ORG")]])
    result = invoke("train", "tag", "--data", train, "--val", val, "--out", tmp_path / "run")
    assert result.exit_code == 2, result.output
    assert "val.conll has tag 'B-ORG'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
