"""The music task from Python: its figures against an independent computation from the model's
probabilities, learning against the per-key marginal floor, and reproducible generation."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("pretty_midi")

from rnnkit.data.midi import KEYS, read_midi, write_midi  # noqa: E402
from rnnkit.metrics.music import key_marginal_nll  # noqa: E402
from rnnkit.tasks import music  # noqa: E402

FAST = dict(device="cpu", precision="fp32", progress="off", seq_len=8, batch_size=4)


def random_rolls(count: int, frames: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    rolls = [(rng.random((frames + i, KEYS)) < 0.06).astype(np.uint8) for i in range(count)]
    for roll in rolls:
        roll[0, 30] = 1
    return rolls


def chord_cycle(frames: int) -> np.ndarray:
    """Three chords in turn, each held two frames: predictable from the past, not from marginals."""
    chords = [(39, 43, 46), (44, 48, 51), (46, 50, 53)]
    roll = np.zeros((frames, KEYS), dtype=np.uint8)
    for t in range(frames):
        roll[t, list(chords[(t // 2) % 3])] = 1
    return roll


@pytest.fixture(scope="module")
def rolls_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rolls") / "rolls.npz"
    pieces = {f"train_{i}": r for i, r in enumerate(random_rolls(6, 12, 0))}
    pieces.update({f"valid_{i}": r for i, r in enumerate(random_rolls(2, 9, 1))})
    pieces.update({f"test_{i}": r for i, r in enumerate(random_rolls(3, 10, 2))})
    np.savez(path, **pieces)
    return path


def independent_figures(run: Path, pieces: list[np.ndarray]) -> tuple[float, float]:
    """NLL per frame and frame accuracy in NumPy from the keys' probabilities the model gives
    (each given the true frames before and, for NADE, the true keys below)."""
    model = music.TASK_SPEC.load_model(music.TASK_SPEC.open(run))
    nll, frames, tp, fp, fn = 0.0, 0, 0, 0, 0
    for piece in pieces:
        with torch.no_grad():
            logits = model.key_logits(torch.tensor(piece[None], dtype=torch.float32))[0]
        p = 1 / (1 + np.exp(-logits.double().numpy()[1:]))
        truth = piece[1:].astype(bool)
        nll -= float(np.where(truth, np.log(p), np.log1p(-p)).sum())
        frames += len(truth)
        if model.config()["head"] == "bernoulli":
            guess = p > 0.5
            tp += int((guess & truth).sum())
            fp += int((guess & ~truth).sum())
            fn += int((~guess & truth).sum())
    accuracy = tp / (tp + fp + fn) if tp + fp + fn else float("nan")
    return nll / frames, accuracy


# weight drop masks the recurrent weights in training only: the loaded run must score with the
# full weights, as the independent computation (in eval mode) does
@pytest.mark.parametrize("head, weight_drop", [("bernoulli", 0.3), ("nade", 0.0)])
def test_evaluate_equals_an_independent_computation(tmp_path, rolls_file, head, weight_drop):
    options = music.MusicOptions(
        data=rolls_file, out=tmp_path / "run", head=head, hidden=12, nade_hidden=6,
        weight_drop=weight_drop, max_steps=3, **FAST,
    )  # fmt: skip
    run = music.train(options)
    test = [r for name, r in np.load(rolls_file).items() if name.startswith("test")]
    figures = music.evaluate(run, rolls_file)  # a file with splits: its test split
    nll, accuracy = independent_figures(run, test)
    assert figures["pieces"] == 3 and figures["frames"] == sum(len(r) - 1 for r in test)
    assert figures["nll_per_frame"] == pytest.approx(nll, rel=1e-5)
    if head == "bernoulli":
        assert figures["frame_accuracy"] == pytest.approx(accuracy)
    valid = music.evaluate(run, rolls_file, split="valid")
    assert valid["pieces"] == 2 and valid["frames"] == 2 * 8 + 1


@pytest.mark.parametrize("head", ["bernoulli", "nade"])
def test_learns_chords_far_below_the_marginal_floor(tmp_path, head):
    train, test = [chord_cycle(48), chord_cycle(36)], [chord_cycle(30)]
    path = tmp_path / "chords.npz"
    np.savez(path, train_0=train[0], train_1=train[1], valid_0=test[0], test_0=test[0])
    options = music.MusicOptions(
        data=path, out=tmp_path / "run", head=head, hidden=24, nade_hidden=16, dropout=0.0,
        transpose=0, lr=1e-2, max_steps=120, **FAST,
    )  # fmt: skip
    figures = music.evaluate(music.train(options), path)
    floor = key_marginal_nll(train, [t[1:] for t in test])
    assert floor > 1.9  # three keys of nine on a third of the time
    assert figures["nll_per_frame"] < 0.35 * floor, (figures, floor)
    assert figures["frame_accuracy"] > 0.9


def test_generation_is_reproducible_and_written_as_midi_png_and_wav(tmp_path, rolls_file):
    options = music.MusicOptions(
        data=rolls_file, out=tmp_path / "run", head="nade", hidden=12, nade_hidden=6,
        max_steps=2, **FAST,
    )  # fmt: skip
    run = music.train(options)
    prime = tmp_path / "prime.mid"
    prime_roll = random_rolls(1, 6, 5)[0]
    prime_roll[-1, 50] = 1
    write_midi(prime, prime_roll)
    first = music.generate(run, tmp_path / "a.mid", steps=20, seed=1, prime=prime, tempo=90,
                           wav=tmp_path / "a.wav")  # fmt: skip
    second = music.generate(run, tmp_path / "b.mid", steps=20, seed=1, prime=prime, tempo=90)
    assert (tmp_path / "a.mid").read_bytes() == (tmp_path / "b.mid").read_bytes()
    assert np.array_equal(first.roll, second.roll)
    assert np.array_equal(first.roll[:6], prime_roll) and first.prime_frames == 6
    assert len(first.roll) == 26
    back = read_midi(first.midi)  # trailing silent frames leave no trace in a MIDI file
    assert np.array_equal(back, first.roll[: len(back)]) and not first.roll[len(back) :].any()
    assert first.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with wave.open(str(first.wav)) as audio:  # 26 frames of an eighth of a quarter at 90 bpm
        seconds = audio.getnframes() / audio.getframerate()
    assert seconds == pytest.approx(len(back) * 60 / 90 / 8, abs=1.1)
    other = music.generate(run, tmp_path / "c.mid", steps=20, seed=2, prime=prime)
    assert not np.array_equal(other.roll, first.roll)
    slow = music.generate(run, tmp_path / "d.mid", steps=20, seed=1, prime=prime,
                          frames_per_quarter=2)  # fmt: skip
    assert np.array_equal(read_midi(slow.midi, frames_per_quarter=2), back)


def test_transposition_moves_every_key_and_drops_what_falls_off():
    rolls = torch.zeros(3, 2, KEYS)
    rolls[:, 0, [0, 10, 87]] = 1
    moved = music.transpose_rolls(rolls, torch.tensor([2, -1, 0]))
    assert torch.nonzero(moved[0, 0]).flatten().tolist() == [2, 12]
    assert torch.nonzero(moved[1, 0]).flatten().tolist() == [9, 86]
    assert torch.equal(moved[2], rolls[2]) and not moved[:, 1].any()
