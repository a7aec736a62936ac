"""Isolated-word audio classification: ``rnnkit train classify --audio`` end to end on tiny tones.

Class "low" is a 300 Hz tone and "high" a 1500 Hz tone, of random lengths and phases with noise,
so a tiny model separates them in a few epochs; its accuracy is compared with the majority class
and with a nearest-centroid classifier on mean log-spectra computed here with NumPy. Also: the
predictions file and ``evaluate`` agree, ``features.json`` holds the training files' statistics
and survives a resume unchanged, and every bad input or option is one sentence (exit code 2)
that leaves the run directory as it was.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.data.audio import write_wav
from rnnkit.data.audio_inputs import AudioFeaturizer, most_common_rate
from rnnkit.data.labelled import stratified_split
from rnnkit.tasks import classify

RATE = 8000
TONES = {"low": 300.0, "high": 1500.0}
TINY = ["--hidden", "12", "--batch-size", "8", "--lr", "1e-2", "--seed", "0", "--progress", "off",
        "--device", "cpu", "--precision", "fp32"]  # fmt: skip


def tone(label: str, rng: np.random.Generator) -> np.ndarray:
    """0.1-0.3 s of the label's tone at a random phase, with a little noise: samples ``(N,)``."""
    n = int(rng.uniform(0.1, 0.3) * RATE)
    t = np.arange(n) / RATE
    wave = 0.5 * np.sin(2 * np.pi * TONES[label] * t + rng.uniform(0, 2 * np.pi))
    return (wave + 0.05 * rng.standard_normal(n)).astype(np.float32)


def write_tones(folder: Path, count: int, seed: int) -> Path:
    """``count`` WAVs named ``{label}_{i}.wav`` (labels alternating) and ``list.csv``
    (path,label) in ``folder``; returns the table."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    rows = []
    for i in range(count):
        label = "low" if i % 2 == 0 else "high"
        write_wav(folder / f"{label}_{i}.wav", tone(label, rng), RATE)
        rows.append((f"{label}_{i}.wav", label))
    return write_table(folder / "list.csv", rows)


def write_table(path: Path, rows, header=("path", "label")) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def rnnkit(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_one_sentence(result, *fragments: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def mean_log_spectrum(path: Path) -> np.ndarray:
    """An independent feature: the mean log power spectrum of 256-sample frames (NumPy only)."""
    samples, _ = soundfile.read(str(path), dtype="float32")
    frames = np.lib.stride_tricks.sliding_window_view(samples, 256)[::128]
    return np.log(np.abs(np.fft.rfft(frames * np.hanning(256), axis=1)) ** 2 + 1e-8).mean(0)


@pytest.fixture(scope="module")
def audio_run(tmp_path_factory):
    """(run directory, training table, test table) of one tiny audio run trained by the CLI."""
    root = tmp_path_factory.mktemp("classify_audio")
    train, test = write_tones(root / "train", 40, seed=1), write_tones(root / "test", 20, seed=2)
    out = root / "run"
    result = rnnkit(
        "train", "classify", "--audio", "--data", train, "--out", out, *TINY, "--epochs", 3
    )
    assert result.exit_code == 0, (result.output, result.exception)
    return out, train, test


def nearest_centroid_accuracy(train: Path, test: Path) -> float:
    """Accuracy on ``test`` of the nearest class centroid of mean log-spectra of ``train``."""
    spectra = {}
    for row in read_rows(train):
        spectra.setdefault(row["label"], []).append(mean_log_spectrum(train.parent / row["path"]))
    centroids = {label: np.mean(rows, axis=0) for label, rows in spectra.items()}
    hits = []
    for row in read_rows(test):
        x = mean_log_spectrum(test.parent / row["path"])
        nearest = min(centroids, key=lambda label: np.linalg.norm(x - centroids[label]))
        hits.append(nearest == row["label"])
    return float(np.mean(hits))


def test_audio_run_beats_the_majority_class_and_matches_a_nearest_centroid(audio_run):
    run, train, test = audio_run
    truth = [row["label"] for row in read_rows(test)]
    majority = max(truth.count(label) for label in TONES) / len(truth)
    metrics = classify.evaluate(run, test)
    assert metrics["accuracy"] >= max(nearest_centroid_accuracy(train, test), majority + 0.45)
    assert metrics["labels"] == ["high", "low"] and metrics["examples"] == 20
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["kind"] == "audio" and config["model"]["input_size"] == 40
    info = json.loads(rnnkit("info", run, "--json").stdout)
    assert info["data"]["features"] == "40 logmel at 8000 Hz, global normalisation"


def test_predictions_follow_the_files_and_evaluate_agrees_with_them(audio_run, tmp_path):
    run, _, test = audio_run
    output = tmp_path / "pred.csv"
    result = rnnkit("predict", run, "--data", test, "--output", output)
    assert result.exit_code == 0, (result.output, result.exception)
    predicted = read_rows(output)
    rows = read_rows(test)
    assert [Path(p["path"]) for p in predicted] == [test.parent / r["path"] for r in rows]
    for p in predicted:
        assert abs(float(p["p_high"]) + float(p["p_low"]) - 1) < 1e-4
    accuracy = np.mean([p["predicted"] == r["label"] for p, r in zip(predicted, rows, strict=True)])
    result = rnnkit("evaluate", run, "--data", test, "--json")
    assert result.exit_code == 0, (result.output, result.exception)
    assert json.loads(result.stdout)["accuracy"] == pytest.approx(accuracy)


def test_a_folder_predicts_every_file_and_a_named_folder_reads_its_labels(audio_run, tmp_path):
    run, _, test = audio_run
    folder = tmp_path / "clips"
    shutil.copytree(test.parent, folder, ignore=shutil.ignore_patterns("*.csv"))
    result = rnnkit("predict", run, "--data", folder)
    assert result.exit_code == 0, (result.output, result.exception)
    predicted = list(csv.DictReader(result.stdout.splitlines()))
    assert [Path(p["path"]).name for p in predicted] == sorted(p.name for p in folder.iterdir())
    options = classify.ClassifyOptions(audio=True, label_from_name="^(?P<text>[a-z]+)_")
    data = options.read(folder)
    assert data.labels == [name.split("_")[0] for name in sorted(p.name for p in folder.iterdir())]
    assert classify.evaluate(run, test)["accuracy"] == pytest.approx(
        np.mean([p["predicted"] == Path(p["path"]).name.split("_")[0] for p in predicted])
    )


def test_features_json_holds_the_training_part_statistics_and_resume_keeps_it(audio_run, tmp_path):
    run, train, _ = audio_run
    rows = read_rows(train)
    kept, _ = stratified_split([r["label"] for r in rows], 0.1, seed=0)
    featurizer = AudioFeaturizer.load(run / "features.json")
    frames = np.concatenate([featurizer.read_raw(train.parent / rows[i]["path"]) for i in kept])
    stored = json.loads((run / "features.json").read_text())["statistics"]
    np.testing.assert_allclose(stored["mean"], frames.mean(0), rtol=1e-4, atol=1e-4)
    assert featurizer.settings.sample_rate == RATE  # the files' rate, as none was given

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    before = (copy / "features.json").read_bytes()
    result = rnnkit(
        "train", "classify", "--audio", "--data", train, "--out", copy, *TINY, "--epochs", 4,
        "--resume",
    )  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    assert (copy / "features.json").read_bytes() == before
    assert json.loads((copy / "config.json").read_text())["results"]["epoch"] == 4


def test_the_default_rate_is_the_most_common_rate_of_the_files(tmp_path):
    rates = [16000, 8000, 16000, 22050]
    for i, rate in enumerate(rates):
        write_wav(tmp_path / f"{i}.wav", np.zeros(rate // 10, dtype=np.float32), rate)
    assert most_common_rate(sorted(tmp_path.glob("*.wav"))) == 16000


@pytest.mark.parametrize(
    "change, fragment",
    [(["--audio", "--n-mels", "20"], "cannot resume"), (["--no-audio"], "cannot resume")],
    ids=["changed-n-mels", "without-audio"],
)
def test_a_resume_that_changes_the_audio_layout_is_refused_and_changes_nothing(
    audio_run, change, fragment
):
    run, train, _ = audio_run
    before = snapshot(run)
    result = rnnkit("train", "classify", *change, "--data", train, "--out", run, *TINY, "--resume")
    assert_one_sentence(result, fragment)
    assert snapshot(run) == before


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--audio", "--init-from", "somewhere"], "--init-from"),
        (["--audio", "--sequence-column", "id"], "--sequence-column"),
        (["--audio", "--vocab-size", "100"], "--vocab-size"),
        (["--label-from-name", "^(.)"], "--audio"),
        (["--audio", "--features", "mfcc", "--n-mfcc", "50"], "--n-mfcc"),
    ],
    ids=["init-from", "sequence-column", "vocab-size", "label-without-audio", "too-many-mfcc"],
)
def test_options_that_do_not_fit_audio_are_one_sentence(audio_run, tmp_path, flags, fragment):
    _, train, _ = audio_run
    result = rnnkit("train", "classify", *flags, "--data", train, "--out", tmp_path / "r", *TINY)
    assert_one_sentence(result, fragment)
    assert not (tmp_path / "r").exists()


def test_text_on_an_audio_run_is_one_sentence(audio_run):
    run, _, _ = audio_run
    assert_one_sentence(rnnkit("predict", run, "--text", "low"), "audio", "--data")


def _missing(folder: Path) -> str:  # each bad case writes its file into folder, returns its name
    return "gone.wav"


def _not_audio(folder: Path) -> str:
    (folder / "notes.wav").write_text("not audio at all", encoding="utf-8")
    return "notes.wav"


def _empty(folder: Path) -> str:
    write_wav(folder / "empty.wav", np.zeros(0, dtype=np.float32), RATE)
    return "empty.wav"


def _too_short(folder: Path) -> str:
    write_wav(folder / "short.wav", np.zeros(40, dtype=np.float32), RATE)  # 5 ms < one window
    return "short.wav"


@pytest.mark.parametrize("make_bad", [_missing, _not_audio, _empty, _too_short])
def test_a_bad_audio_file_is_one_sentence_naming_it_and_writes_nothing(
    audio_run, tmp_path, make_bad
):
    run, train, _ = audio_run
    folder = tmp_path / "data"
    shutil.copytree(train.parent, folder)
    bad = make_bad(folder)
    rows = [(r["path"], r["label"]) for r in read_rows(train)]
    table = write_table(folder / "bad.csv", [*rows[:9], (bad, "low"), *rows[9:]])
    result = rnnkit("train", "classify", "--audio", "--data", table, "--out", tmp_path / "r", *TINY)
    assert_one_sentence(result, bad)
    assert not (tmp_path / "r").exists()
    before = snapshot(run)
    for command in (["evaluate", run, "--data", table], ["predict", run, "--data", table]):
        assert_one_sentence(rnnkit(*command), bad)
    assert snapshot(run) == before


def test_a_table_without_the_path_column_is_one_sentence(audio_run, tmp_path):
    run, train, _ = audio_run
    rows = [(r["path"], r["label"]) for r in read_rows(train)]
    table = write_table(tmp_path / "files.csv", rows, header=("file", "label"))
    result = rnnkit("train", "classify", "--audio", "--data", table, "--out", tmp_path / "r", *TINY)
    assert_one_sentence(result, "files.csv", "path")
    assert not (tmp_path / "r").exists()
    assert_one_sentence(rnnkit("predict", run, "--data", table), "files.csv", "path")


def test_a_folder_without_a_label_pattern_is_one_sentence(audio_run, tmp_path):
    _, train, _ = audio_run
    out = tmp_path / "r"
    result = rnnkit("train", "classify", "--audio", "--data", train.parent, "--out", out, *TINY)
    assert_one_sentence(result, str(train.parent), "--label-from-name")
    assert not out.exists()
