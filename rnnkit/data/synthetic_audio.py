"""Toy speech for fast tests and examples: each symbol of an alphabet is a pure tone.

An utterance is a few symbols, each a tone of random length with short fades, separated by
quiet gaps, over a little noise. A tiny CTC model learns to transcribe it in seconds, which makes
it the smoke test of the speech pipeline; repeated symbols ("aa") come with a gap between them,
so they exercise CTC's blank between repeats.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.audio import write_wav

LOWEST_HZ, HIGHEST_HZ = 400.0, 2400.0
NOISE_STD = 0.005
FADE_MS = 5.0


def tone_frequencies(alphabet: str) -> dict[str, float]:
    """The tone of each symbol: geometrically spaced from 400 to 2400 Hz (about equally apart
    in mel bands)."""
    if len(set(alphabet)) != len(alphabet) or not alphabet:
        raise ValueError(f"alphabet must be distinct symbols, got {alphabet!r}")
    if len(alphabet) == 1:
        return {alphabet: LOWEST_HZ}
    ratios = np.geomspace(LOWEST_HZ, HIGHEST_HZ, len(alphabet))
    return {symbol: float(freq) for symbol, freq in zip(alphabet, ratios, strict=True)}


def _tone(freq: float, n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / sample_rate
    amplitude = rng.uniform(0.2, 0.5)
    wave = amplitude * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
    fade = min(int(sample_rate * FADE_MS / 1000), n // 2)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        wave[:fade] *= ramp
        wave[n - fade :] *= ramp[::-1]
    return wave


def tone_utterances(
    count: int,
    *,
    alphabet: str = "abcd",
    sample_rate: int = 8000,
    seed: int,
    min_symbols: int = 1,
    max_symbols: int = 4,
    symbol_ms: tuple[float, float] = (80, 160),
    gap_ms: tuple[float, float] = (20, 60),
) -> list[tuple[Tensor, str]]:
    """``count`` (samples (N,) float32, text) pairs; text is the symbols without separators.

    Gaps of ``gap_ms`` come before, between and after the symbols; the same seed gives the
    same utterances.
    """
    if not 1 <= min_symbols <= max_symbols:
        raise ValueError(f"need 1 <= min_symbols <= max_symbols, got {min_symbols}, {max_symbols}")
    if HIGHEST_HZ >= sample_rate / 2:
        raise ValueError(f"sample_rate {sample_rate} is too low for tones up to {HIGHEST_HZ} Hz")
    tones = tone_frequencies(alphabet)
    rng = np.random.default_rng(seed)

    def samples(bounds_ms: tuple[float, float]) -> int:
        return int(round(rng.uniform(*bounds_ms) * sample_rate / 1000))

    utterances = []
    for _ in range(count):
        text = "".join(rng.choice(list(alphabet), size=rng.integers(min_symbols, max_symbols + 1)))
        pieces = [np.zeros(samples(gap_ms))]
        for symbol in text:
            pieces += [_tone(tones[symbol], samples(symbol_ms), sample_rate, rng)]
            pieces += [np.zeros(samples(gap_ms))]
        signal = np.concatenate(pieces)
        signal += rng.normal(0.0, NOISE_STD, signal.shape)
        utterances.append((torch.from_numpy(signal.astype(np.float32)), text))
    return utterances


def write_tone_dataset(
    out_dir: str | Path, count: int, seed: int, *, name: str = "data", **kwargs
) -> Path:
    """Write ``tone_utterances(count, seed=seed, **kwargs)`` as ``out_dir/<name>/*.wav`` and
    ``out_dir/<name>.csv`` (``path,text``, paths relative to the CSV); returns the CSV path."""
    out_dir = Path(out_dir)
    sample_rate = kwargs.get("sample_rate", 8000)
    csv_path = out_dir / f"{name}.csv"
    (out_dir / name).mkdir(parents=True, exist_ok=True)
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "text"])
        for number, (signal, text) in enumerate(tone_utterances(count, seed=seed, **kwargs)):
            relative = f"{name}/{number:05d}.wav"
            write_wav(out_dir / relative, signal, sample_rate)
            writer.writerow([relative, text])
    return csv_path
