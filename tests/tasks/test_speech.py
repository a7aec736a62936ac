"""The speech task end to end on tone "speech" (each character a pure tone): CTC training that
beats a constant-transcript baseline, evaluate agreeing with an independent edit distance over
the transcriptions, transcribe's outputs, streaming equal to one pass, plots, and bad input."""

from __future__ import annotations

import csv
import json
from collections import Counter

import numpy as np
import pytest
import soundfile
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.data.audio import write_wav
from rnnkit.data.synthetic_audio import write_tone_dataset
from rnnkit.tasks import speech

ALPHABET = "abc"


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_user_error(result, *fragments):
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def edit_distance(a, b):
    """Levenshtein distance by the textbook dynamic programme (the test's own oracle)."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def corpus_cer(references, hypotheses):
    errors = sum(edit_distance(r, h) for r, h in zip(references, hypotheses, strict=True))
    return errors / sum(len(r) for r in references)


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


TINY = dict(
    hidden=48, layers=1, subsample=2, batch_size=8, lr=1e-2, dropout=0.0, time_masks=1,
    freq_masks=1, progress="off", precision="fp32", device="cpu", seed=0,
)  # fmt: skip


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    root = tmp_path_factory.mktemp("tones")
    train = write_tone_dataset(root / "train", 160, seed=0, alphabet=ALPHABET)
    test = write_tone_dataset(root / "test", 30, seed=1, alphabet=ALPHABET)
    return root, train, test


@pytest.fixture(scope="module")
def speech_run(tones):
    root, train, _ = tones
    options = speech.SpeechOptions(
        data=train, out=root / "run", epochs=25, bidirectional=False, **TINY
    )
    return speech.train(options)


def test_training_beats_the_most_common_transcript(speech_run, tones):
    _, train, test = tones
    references = [row["text"] for row in read_rows(test)]
    common = Counter(row["text"] for row in read_rows(train)).most_common(1)[0][0]
    baseline = corpus_cer(references, [common] * len(references))
    metrics = speech.evaluate(speech_run, test)
    assert metrics["cer"] < 0.1 < baseline - 0.3, (metrics, baseline)
    assert metrics["files"] == 30
    seconds = sum(soundfile.info(str(test.parent / r["path"])).duration for r in read_rows(test))
    assert metrics["audio_seconds"] == pytest.approx(seconds, abs=1e-3)


def test_evaluate_agrees_with_an_edit_distance_over_the_transcriptions(speech_run, tones, tmp_path):
    _, _, test = tones
    rows = read_rows(test)
    paths = [test.parent / row["path"] for row in rows]
    hypotheses = speech.transcribe_files(speech_run, paths)
    references = [row["text"] for row in rows]
    per_file = tmp_path / "errors.csv"
    metrics = speech.evaluate(speech_run, test, output=per_file)
    assert metrics["cer"] == pytest.approx(corpus_cer(references, hypotheses))
    written = read_rows(per_file)
    assert [r["hypothesis"] for r in written] == hypotheses
    assert [int(r["char_errors"]) for r in written] == [
        edit_distance(r, h) for r, h in zip(references, hypotheses, strict=True)
    ]


def test_the_cli_transcribes_files_and_tables(speech_run, tones, tmp_path):
    _, _, test = tones
    rows = read_rows(test)[:4]
    paths = [test.parent / row["path"] for row in rows]
    expected = speech.transcribe_files(speech_run, paths)
    result = invoke("transcribe", speech_run, *paths)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"{p}\t{t}" for p, t in zip(paths, expected, strict=True)]
    output = tmp_path / "hyp.csv"
    result = invoke("transcribe", speech_run, "--data", test, "--output", output)
    assert result.exit_code == 0, result.output
    written = read_rows(output)
    assert len(written) == 30
    assert [r["text"] for r in written[:4]] == expected
    result = invoke("evaluate", speech_run, "--data", test, "--json")
    assert result.exit_code == 0, result.output
    assert {"cer", "wer", "loss", "files", "audio_seconds"} <= set(json.loads(result.stdout))


@pytest.mark.parametrize("chunk_ms", [100.0, 37.0])
def test_streaming_gives_the_one_pass_transcript(speech_run, tones, chunk_ms):
    _, _, test = tones
    paths = [test.parent / row["path"] for row in read_rows(test)[:6]]
    one_pass = speech.transcribe_files(speech_run, paths)
    for path, text in zip(paths, one_pass, strict=True):
        pieces = list(speech.stream_transcription(speech_run, path, chunk_ms=chunk_ms))
        assert len(pieces) > 3
        assert "".join(pieces) == text
    result = invoke("transcribe", speech_run, "--stream", paths[0])
    assert result.exit_code == 0 and result.stdout == one_pass[0] + "\n"


def test_the_run_holds_its_plots_and_describes_itself(speech_run):
    assert (speech_run / "alignment.png").stat().st_size > 1000
    assert (speech_run / "loss.png").stat().st_size > 1000
    result = invoke("info", speech_run, "--json")
    described = json.loads(result.stdout)
    assert described["task"] == "speech"
    assert described["data"]["alphabet"] == ALPHABET
    assert described["data"]["sample_rate"] == 8000


def test_unknown_characters_at_evaluation_are_counted_as_errors(speech_run, tones, tmp_path):
    _, _, test = tones
    rows = read_rows(test)[:5]
    table = tmp_path / "odd.csv"
    with open(table, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["path", "text"])
        writer.writerows([str(test.parent / r["path"]), r["text"] + "z"] for r in rows)
    metrics = speech.evaluate(speech_run, table)
    assert metrics["unknown_characters"] == 5
    assert metrics["char_errors"] >= 5


def test_a_bidirectional_run_refuses_to_stream(tones, tmp_path):
    root, train, test = tones
    options = speech.SpeechOptions(data=train, out=tmp_path / "bi", max_steps=1, **TINY)
    run = speech.train(options)
    wav = test.parent / read_rows(test)[0]["path"]
    assert_user_error(invoke("transcribe", run, "--stream", wav), "bidirectional")
    assert_user_error(invoke("evaluate", run, "--data", wav), str(wav))


# ------------------------------------------------------------------------------------ bad input


def write_table(path, rows, header=("path", "text")):
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def train_cli(data, out, *more):
    return invoke(
        "train", "speech", "--data", data, "--out", out, "--max-steps", "1", "--hidden", "8",
        "--layers", "1", "--progress", "off", *more,
    )  # fmt: skip


@pytest.fixture
def good_wav(tmp_path):
    path = tmp_path / "tone.wav"
    t = np.arange(4000) / 8000
    write_wav(path, 0.3 * np.sin(2 * np.pi * 440 * t), 8000)
    return path


def test_bad_input_is_one_sentence_and_writes_nothing(tmp_path, good_wav):
    out = tmp_path / "run"
    cases = []
    cases.append((write_table(tmp_path / "notext.csv", [[good_wav]], ("path",)), (), "text"))
    cases.append((write_table(tmp_path / "nopath.csv", [["a"]], ("text",)), (), "'path'"))
    missing = write_table(tmp_path / "missing.csv", [[good_wav, "a"], ["nowhere.wav", "a"]])
    cases.append((missing, (), "nowhere.wav"))
    fake = tmp_path / "fake.wav"
    fake.write_text("not audio at all")
    cases.append((write_table(tmp_path / "fake.csv", [[good_wav, "a"], [fake, "a"]]), (), "fake"))
    empty = tmp_path / "empty.wav"
    soundfile.write(str(empty), np.zeros(0, dtype=np.float32), 8000)
    cases.append((write_table(tmp_path / "e.csv", [[good_wav, "a"], [empty, "a"]]), (), "empty"))
    slow = tmp_path / "slow.wav"
    soundfile.write(str(slow), np.zeros(50, dtype=np.float32), 20)
    cases.append(
        (
            write_table(tmp_path / "r.csv", [[good_wav, "a"], [slow, "a"]]),
            ("--sample-rate", "8000"),
            "slow",
        )
    )
    val = write_table(tmp_path / "val.csv", [[good_wav, "q"]])
    cases.append(
        (write_table(tmp_path / "t.csv", [[good_wav, "a"], [good_wav, "b"]]), ("--val", val), "'q'")
    )
    long_text = write_table(
        tmp_path / "long.csv", [[good_wav, "abcabcabcabcabcabcabcabcabcabc" * 3]] * 2
    )
    cases.append((long_text, ("--subsample", "8"), "too short"))
    folder = tmp_path / "folder"
    folder.mkdir()
    write_wav(folder / "3_x_1.wav", np.zeros(800), 8000)
    cases.append((folder, (), "--label-from-name"))
    cases.append((folder, ("--label-from-name", "^(\\d)_y"), "3_x_1.wav"))
    cases.append((tmp_path / "nothing", (), "nothing"))
    for data, more, fragment in cases:
        assert_user_error(train_cli(data, out, *more), fragment)
        assert not out.exists(), (data, fragment)


def test_files_too_short_for_their_transcripts_are_skipped_and_named(tmp_path, good_wav):
    long_text = "abc" * 10  # 30 labels; 0.5 s at 8 frames per step gives 6 steps
    data = write_table(
        tmp_path / "d.csv", [[good_wav, "a"], [good_wav, long_text], [good_wav, "b"]]
    )
    val = write_table(tmp_path / "v.csv", [[good_wav, "a"]])
    result = train_cli(data, tmp_path / "run", "--val", val, "--subsample", "8")
    assert result.exit_code == 0, (result.output, result.exception)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "skipping 1 of 3 training files" in warnings[0]
    assert str(good_wav) in warnings[0]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["data"]["train_files"] == 2
