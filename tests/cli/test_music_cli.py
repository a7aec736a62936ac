"""``rnnkit train music``, ``evaluate --split`` and ``generate`` on a music run, and bad input:
exit 2, one sentence naming the file, nothing written to the run directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_user_error, rnnkit

pytest.importorskip("pretty_midi")
scipy_io = pytest.importorskip("scipy.io")

from rnnkit.data.midi import KEYS, write_midi  # noqa: E402

TINY = ["--hidden", "8", "--nade-hidden", "4", "--seq-len", "8", "--batch-size", "4",
        "--max-steps", "2", "--progress", "off", "--device", "cpu"]  # fmt: skip


def roll(frames: int, seed: int) -> np.ndarray:
    out = (np.random.default_rng(seed).random((frames, KEYS)) < 0.05).astype(np.uint8)
    out[-1, 40] = 1
    return out


@pytest.fixture(scope="module")
def midi_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("midi")
    for i in range(4):
        write_midi(folder / f"piece{i}.mid", roll(12, i))
    return folder


@pytest.fixture(scope="module")
def music_run(tmp_path_factory, midi_folder) -> Path:
    out = tmp_path_factory.mktemp("runs") / "music"
    result = rnnkit("train", "music", "--data", midi_folder, "--out", out, *TINY)
    assert result.exit_code == 0, (result.output, result.exception)
    return out


def test_train_on_a_midi_folder_then_evaluate_and_generate(music_run, midi_folder, tmp_path):
    config = json.loads((music_run / "config.json").read_text())
    assert config["data"]["train_pieces"] == 3 and config["data"]["val_pieces"] == 1  # by file
    result = rnnkit("evaluate", music_run, "--data", midi_folder, "--json")
    assert result.exit_code == 0, (result.output, result.exception)
    figures = json.loads(result.stdout)
    assert set(figures) == {"nll_per_frame", "frame_accuracy", "frames", "pieces"}
    assert figures["pieces"] == 4 and figures["frames"] == 4 * 11
    out = tmp_path / "new.mid"
    args = ["generate", music_run, "--output", out, "--steps", "16", "--temperature", "0.9"]
    result = rnnkit(*args, "--seed", "1", "--prime", midi_folder / "piece0.mid")
    assert result.exit_code == 0, (result.output, result.exception)
    assert result.stdout.split() == [str(out), str(out.with_suffix(".png"))]
    first = out.read_bytes()
    assert rnnkit(*args, "--seed", "1", "--prime", midi_folder / "piece0.mid").exit_code == 0
    assert out.read_bytes() == first


def test_split_applies_to_files_with_splits(music_run, midi_folder, tmp_path):
    result = rnnkit("evaluate", music_run, "--data", midi_folder, "--split", "test")
    assert_user_error(result, str(midi_folder), "no 'test' split")
    result = rnnkit("evaluate", music_run, "--data", midi_folder, "--split", "dev")
    assert_user_error(result, "--split 'dev'", "train, valid, test")
    rolls = tmp_path / "split.npz"
    np.savez(rolls, train_0=roll(5, 0), valid_0=roll(6, 1), test_0=roll(7, 2), test_1=roll(8, 3))
    for split, pieces in [(None, 2), ("valid", 1), ("train", 1)]:
        extra = [] if split is None else ["--split", split]
        result = rnnkit("evaluate", music_run, "--data", rolls, "--json", *extra)
        assert result.exit_code == 0, (result.output, result.exception)
        assert json.loads(result.stdout)["pieces"] == pieces, split


def test_split_on_an_lm_run_is_refused(tiny_run, tiny_corpus):
    result = rnnkit("evaluate", tiny_run, "--data", tiny_corpus, "--split", "test")
    assert_user_error(result, "--split", "lm run", "drop --split")


def test_generate_flags_of_the_other_task_are_refused(music_run, tiny_run, tmp_path):
    assert_user_error(rnnkit("generate", music_run, "--output", tmp_path / "a.mid",
                             "--length", "5"), "--length", "--steps")  # fmt: skip
    assert_user_error(rnnkit("generate", music_run), "--output")
    assert_user_error(rnnkit("generate", music_run, "--output", tmp_path / "a.mid",
                             "--weights", "int8"), "--weights")  # fmt: skip
    assert_user_error(rnnkit("generate", tiny_run, "--output", tmp_path / "a.mid"), "--output")
    for steps in ["0", "-3"]:
        result = rnnkit("generate", music_run, "--output", tmp_path / "a.mid", "--steps", steps)
        assert_user_error(result, "--steps", str(tmp_path / "a.mid"))
    assert not (tmp_path / "a.mid").exists()
    bad = tmp_path / "prime.mid"
    bad.write_bytes(b"nonsense")
    result = rnnkit("generate", music_run, "--output", tmp_path / "a.mid", "--prime", bad)
    assert_user_error(result, str(bad), "not a MIDI file")
    result = rnnkit("generate", music_run, "--output", tmp_path / "a.mid", "--prime", "nowhere.mid")
    assert_user_error(result, "nowhere.mid", "does not exist")


def bad_inputs(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (the --data to train on, what the error says besides the file's name)."""
    empty = folder / "no_midi"
    empty.mkdir()
    (empty / "readme.txt").write_text("nothing")
    with_bad = folder / "with_bad"
    with_bad.mkdir()
    for i in range(3):
        write_midi(with_bad / f"ok{i}.mid", roll(10, i))
    (with_bad / "broken.mid").write_bytes(b"MThd not really")
    mat = folder / "keys.mat"
    scipy_io.savemat(mat, {"pieces": np.zeros((3, 3))})
    silent = folder / "silent.npz"
    np.savez(silent, a=roll(6, 0), b=np.zeros((6, KEYS), dtype=np.uint8))
    text = folder / "notes.txt"
    text.write_text("C E G")
    return {
        "folder without MIDI files": (empty, "no .mid"),
        "a file that does not parse": (with_bad, "broken.mid"),
        ".mat without the keys": (mat, "traindata"),
        "a piece with no notes": (silent, "no notes"),
        "an unknown format": (text, "not a .mat, .npz"),
    }


def test_bad_input_is_one_sentence_and_writes_nothing(tmp_path):
    cases = bad_inputs(tmp_path)
    for name, (data, fragment) in cases.items():
        out = tmp_path / f"run-{name.replace(' ', '_')}"
        result = rnnkit("train", "music", "--data", data, "--out", out, *TINY)
        line = assert_user_error(result, fragment)
        assert str(data) in line, (name, line)
        assert not out.exists(), name
    with_bad, _ = cases["a file that does not parse"]
    out = tmp_path / "skipping"
    result = rnnkit("train", "music", "--data", with_bad, "--out", out, "--skip-bad", *TINY)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "broken.mid" in result.stderr
    assert json.loads((out / "config.json").read_text())["data"]["train_pieces"] == 2


def test_melody_mode_through_the_lm_task(midi_folder, tmp_path):
    text = tmp_path / "melodies.txt"
    result = rnnkit("melody", "to-text", midi_folder, "--output", text)
    assert result.exit_code == 0, (result.output, result.exception)
    assert len(text.read_text().splitlines()) == 4
    run = tmp_path / "lm"
    lm_flags = ["--hidden", "8", "--layers", "1", "--bptt", "8", "--batch-size", "2",
                "--max-steps", "2", "--progress", "off", "--device", "cpu"]  # fmt: skip
    result = rnnkit("train", "lm", "--data", text, "--tokenizer", "word", "--out", run, *lm_flags)
    assert result.exit_code == 0, (result.output, result.exception)
    result = rnnkit("generate", run, "--prime", "p60 d4", "--length", "40", "--seed", "0")
    assert result.exit_code == 0, (result.output, result.exception)
    generated = tmp_path / "generated.txt"
    generated.write_text(result.stdout)
    out = tmp_path / "melody.mid"
    result = rnnkit("melody", "to-midi", generated, "--output", out)
    assert result.exit_code == 0, (result.output, result.exception)
    assert result.stdout.split() == [str(out), str(out.with_suffix(".png"))]
    (tmp_path / "words.txt").write_text("no melody here\n")
    result = rnnkit("melody", "to-midi", tmp_path / "words.txt", "--output", out)
    assert_user_error(result, str(tmp_path / "words.txt"), "p60 d4")
