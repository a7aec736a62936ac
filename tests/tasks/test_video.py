"""The video task end to end on tiny synthetic clips: learning against the copy-last-frame
baseline and chance, the files a run writes, and every refusal of bad input (exit 2, one
sentence, nothing written)."""

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from rnnkit.cli import app

COMMON = ["--progress", "off", "--device", "cpu", "--seed", "0"]


def rnnkit(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def sliding_squares(count, steps=8, size=16, seed=0):
    """A 4x4 bright square moving one pixel a frame right (label "right") or left ("left")."""
    rng = np.random.default_rng(seed)
    frames = np.zeros((count, steps, size, size), np.uint8)
    labels = []
    for n in range(count):
        direction = 1 if n % 2 else -1
        row, col = rng.integers(0, size - 4, size=2)
        col = int(rng.integers(steps, size - 4 - steps)) if size - 4 - 2 * steps > 0 else col
        for t in range(steps):
            c = int(np.clip(col + direction * t, 0, size - 4))
            frames[n, t, row : row + 4, c : c + 4] = 255
        labels.append("right" if direction > 0 else "left")
    return frames, np.array(labels)


@pytest.fixture(scope="module")
def squares(tmp_path_factory):
    folder = tmp_path_factory.mktemp("squares")
    frames, labels = sliding_squares(48, steps=8, size=24)
    np.savez(folder / "train.npz", frames=frames)
    np.savez(folder / "labelled.npz", frames=frames, labels=labels)
    test_frames, test_labels = sliding_squares(16, steps=8, size=24, seed=1)
    np.savez(folder / "test.npz", frames=test_frames)
    np.savez(folder / "test_labelled.npz", frames=test_frames, labels=test_labels)
    return folder


def test_prediction_beats_copying_the_last_frame(squares, tmp_path):
    run = tmp_path / "run"
    result = rnnkit(
        "train", "video", "--data", squares / "train.npz", "--out", run, "--input-frames", "4",
        "--output-frames", "4", "--hidden", "8", "--layers", "1", "--kernel-size", "3",
        "--patch", "2", "--batch-size", "8", "--lr", "1e-2", "--epochs", "12",
        "--teacher-forcing-end", "0", "--teacher-forcing-decay-epochs", "6", *COMMON,
    )  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    assert {"prediction.png", "prediction.gif", "model.safetensors"} <= {
        p.name for p in run.iterdir()
    }
    with Image.open(run / "prediction.gif") as gif:
        assert gif.n_frames == 8
    scored = rnnkit("evaluate", run, "--data", squares / "test.npz", "--json")
    metrics = json.loads(scored.stdout)
    # the square keeps moving: copying the last frame misses it, the model follows it
    assert metrics["mse"] < 0.6 * metrics["copy_last_mse"], metrics
    assert metrics["clips"] == 16 and len(metrics["mse_by_step"]) == 4
    predicted = rnnkit("predict", run, "--data", squares / "test.npz", "--output",
                       tmp_path / "future.npz")  # fmt: skip
    assert predicted.exit_code == 0, predicted.output
    with np.load(tmp_path / "future.npz") as archive:
        assert archive["frames"].shape == (16, 4, 24, 24)


def test_classification_learns_the_direction_of_motion(squares, tmp_path):
    run = tmp_path / "run"
    result = rnnkit(
        "train", "video", "--mode", "classify", "--data", squares / "labelled.npz",
        "--out", run, "--hidden", "16", "--features", "16", "--layers", "1",
        "--batch-size", "8", "--lr", "3e-3", "--epochs", "20", *COMMON,
    )  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    assert (run / "confusion.png").is_file()
    metrics = json.loads(
        rnnkit("evaluate", run, "--data", squares / "test_labelled.npz", "--json").stdout
    )
    assert metrics["accuracy"] >= 0.9, metrics  # chance: 0.5
    assert {"precision/left", "recall/right", "f1/left"} <= set(metrics)
    labelled = rnnkit("predict", run, "--data", squares / "test_labelled.npz")
    lines = labelled.stdout.splitlines()
    assert lines[0] == "clip,label,probability" and len(lines) == 17


def _one_line_error(result, fragment):
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], lines


def _mixed_sizes(folder):
    clip = folder / "clips" / "c0"
    clip.mkdir(parents=True)
    for t in range(4):
        Image.fromarray(np.zeros((8, 8 + (t == 2)), np.uint8)).save(clip / f"{t}.png")
    return folder / "clips"


def _no_frames(folder):
    np.savez(folder / "x.npz", x=np.zeros((2, 4, 8, 8), np.uint8))
    return folder / "x.npz"


def _short(folder):
    np.savez(folder / "s.npz", frames=np.zeros((2, 5, 8, 8), np.uint8))
    return folder / "s.npz"


def _labels_for_prediction(folder):
    np.savez(folder / "l.npz", frames=np.zeros((2, 8, 8, 8), np.uint8), labels=np.array([1, 2]))
    return folder / "l.npz"


def _empty(folder):
    (folder / "empty").mkdir()
    return folder / "empty"


@pytest.mark.parametrize(
    "make, fragment",
    [
        (_mixed_sizes, "2.png is 9x8"),
        (_no_frames, "no array 'frames'"),
        (_short, "needs 8"),
        (_labels_for_prediction, "holds labels"),
        (_empty, "holds no clips"),
    ],
)
def test_bad_input_exits_2_with_one_sentence_and_writes_nothing(make, fragment, tmp_path):
    data = make(tmp_path)
    run = tmp_path / "run"
    result = rnnkit("train", "video", "--data", data, "--out", run, "--input-frames", "4",
                    "--output-frames", "4", "--patch", "2", *COMMON)  # fmt: skip
    _one_line_error(result, fragment)
    assert not run.exists() or not any(run.iterdir())
