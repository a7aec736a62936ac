"""The tag task end to end: training on CoNLL, entity F1 above a per-word baseline, predictions
as token/TAG pairs, evaluate agreeing with the predictions file, what ``info`` shows, resuming
(the vocabulary read back, a changed model option refused), and bad input via the CLI."""

from __future__ import annotations

import dataclasses
import json
import random
import re
from collections import Counter, defaultdict

import pytest
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.data.conll import TaggedSentence
from rnnkit.errors import UserError
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


def test_describe_shows_model_data_training_and_metrics(tag_run):
    run_dir, train, _ = tag_run
    description = tag.describe(run_dir)
    assert description["task"] == "tag"
    assert description["model"] == {
        "cell": "lstm",
        "layers": 1,
        "hidden": 16,
        "char_features": True,
        "parameters": description["model"]["parameters"],
    }
    assert description["model"]["parameters"] > 0
    data = description["data"]
    assert data["tags"] == "B-LOC, B-PER, O" and data["train_file"] == str(train)
    assert data["train_sentences"] + data["val_sentences"] == 80
    assert {"steps", "seconds", "stopped_by"} <= set(description["training"])
    assert description["metrics"]["f1"] >= 0.0


def tiny_options(tmp_path, **changes):
    """Options of a run of two steps of a very small tagger on eight sentences."""
    train = write_conll(tmp_path / "train.conll", sentences(TRAIN_NAMES, 8, seed=0))
    options = tag.TagOptions(
        data=train,
        out=tmp_path / "run",
        max_steps=2,
        hidden=8,
        embedding_size=8,
        char_embedding_size=4,
        char_hidden=4,
        batch_size=4,
        progress="off",
    )
    return dataclasses.replace(options, **changes)


def run_files(run_dir):
    return {name: (run_dir / name).read_bytes() for name in ("config.json", "vocab.json")}


def test_resume_with_a_changed_model_option_is_refused_before_writing(tmp_path):
    options = tiny_options(tmp_path)
    run_dir = tag.train(options)
    before = run_files(run_dir)
    with pytest.raises(UserError, match="option 'hidden' was 8 in the run but is 16 now"):
        tag.train(dataclasses.replace(options, resume=True, hidden=16))
    assert run_files(run_dir) == before


def test_resume_reads_the_vocabulary_back_instead_of_fitting_it_again(tmp_path):
    options = tiny_options(tmp_path)
    run_dir = tag.train(options)
    vocab = (run_dir / "vocab.json").read_bytes()
    other = write_conll(tmp_path / "other.conll", sentences(TEST_NAMES, 8, seed=1))  # new names
    tag.train(dataclasses.replace(options, resume=True, data=other, max_steps=4))
    assert (run_dir / "vocab.json").read_bytes() == vocab
    config = json.loads((run_dir / "config.json").read_text())
    assert config["results"]["step"] == 4
    assert config["data"]["words"] == len(json.loads(vocab)["words"])


def test_vocabulary_round_trips_and_a_damaged_one_is_a_user_error(tmp_path):
    data = [TaggedSentence(["Anna", "sees", "Anna"], ["B-PER", "O", "B-PER"])]
    vocab = tag.TagVocabulary.build(data, lowercase=True, min_count=2)
    assert vocab.words == ["<pad>", "<unk>", "anna"]
    assert tag.TagVocabulary.from_dict(json.loads(json.dumps(vocab.to_dict()))) == vocab
    path = tmp_path / "vocab.json"
    vocab.save(path)
    assert tag.TagVocabulary.load(path) == vocab
    path.write_text(json.dumps({**vocab.to_dict(), "tags": "O"}))
    with pytest.raises(UserError, match=f"{path} is not a readable tag vocabulary"):
        tag.TagVocabulary.load(path)


def test_a_vocabulary_that_does_not_fit_the_model_is_a_user_error(tmp_path):
    run_dir = tag.train(tiny_options(tmp_path))
    vocab = json.loads((run_dir / "vocab.json").read_text())
    vocab["tags"].append("B-ORG")
    (run_dir / "vocab.json").write_text(json.dumps(vocab))
    expected = r"vocab.json holds (\d+) tags but the run's model was built for (\d+); the run is"
    with pytest.raises(UserError, match=expected) as refused:
        tag.predict_texts(run_dir, ["Anna sees Rome"])
    in_file, in_model = re.search(expected, str(refused.value)).groups()
    assert int(in_file) == int(in_model) + 1 == len(vocab["tags"])
