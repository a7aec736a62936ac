"""Tone utterances: deterministic, within their length bounds, each symbol at its own tone."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from rnnkit.data.audio import read_audio
from rnnkit.data.synthetic_audio import tone_frequencies, tone_utterances, write_tone_dataset


def test_deterministic_and_within_bounds():
    first = tone_utterances(20, seed=0)
    again = tone_utterances(20, seed=0)
    assert all(torch.equal(a, b) and s == t for (a, s), (b, t) in zip(first, again, strict=True))
    assert [t for _, t in tone_utterances(20, seed=1)] != [t for _, t in first]
    for signal, text in first:
        assert signal.dtype == torch.float32 and signal.abs().max() <= 1
        assert 1 <= len(text) <= 4 and set(text) <= set("abcd")
        n = len(text)
        low = (80 * n + 20 * (n + 1)) * 8 - 8  # rounding of each piece
        high = (160 * n + 60 * (n + 1)) * 8 + 8
        assert low <= len(signal) <= high
    assert any(len(set(t)) < len(t) for _, t in tone_utterances(50, seed=0))  # repeats occur


def test_each_symbol_is_its_own_tone():
    tones = tone_frequencies("abcd")
    assert tones["a"] == pytest.approx(400) and tones["d"] == pytest.approx(2400)
    for signal, text in tone_utterances(
        12, seed=3, min_symbols=1, max_symbols=1, alphabet="abcd", sample_rate=8000
    ):
        spectrum = np.abs(np.fft.rfft(signal.numpy()))
        peak = np.argmax(spectrum) * 8000 / len(signal)
        nearest = min(tones, key=lambda s: abs(tones[s] - peak))
        assert nearest == text and abs(tones[text] - peak) < 20


def test_write_tone_dataset(tmp_path):
    csv_path = write_tone_dataset(tmp_path, 4, 7, name="train", alphabet="xy", sample_rate=16000)
    with csv_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = tone_utterances(4, seed=7, alphabet="xy", sample_rate=16000)
    assert [row["text"] for row in rows] == [text for _, text in expected]
    for row, (signal, _) in zip(rows, expected, strict=True):
        audio = read_audio(csv_path.parent / row["path"], 16000)
        assert audio.shape == signal.shape
        assert (audio - signal).abs().max() < 1e-4  # 16-bit quantisation
