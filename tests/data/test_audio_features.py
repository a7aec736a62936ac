"""Features: the mel filterbank against its formula and librosa, log-mel/MFCC against
torch.stft and scipy's DCT, streaming equal to whole-signal features, normalisation, SpecAugment."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.fft
import torch

from rnnkit.data.audio_features import (
    FeatureNormalizer,
    FeatureSettings,
    StreamingFeatures,
    compute_features,
    frame_count,
    mel_filterbank,
    spec_augment,
)


def _tone(freq: float, rate: int, n: int) -> torch.Tensor:
    return 0.5 * torch.sin(2 * math.pi * freq * torch.arange(n, dtype=torch.float64) / rate).float()


def _htk_centres(n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    points = np.linspace(mel(f_min), mel(f_max), n_mels + 2)
    return 700 * (10 ** (points / 2595) - 1)


def test_settings_sizes_and_round_trip():
    settings = FeatureSettings(sample_rate=8000, kind="mfcc", window_ms=25, hop_ms=10)
    assert (settings.win_length, settings.hop_length, settings.fft_size) == (200, 80, 256)
    assert settings.num_features == 13 and FeatureSettings().num_features == 40
    restored = FeatureSettings.from_dict(json.loads(json.dumps(settings.to_dict())))
    assert restored == settings
    with pytest.raises(ValueError):
        FeatureSettings(kind="spectrogram")
    with pytest.raises(ValueError):
        FeatureSettings(sample_rate=8000, f_max=6000)


def test_filterbank_matches_librosa():
    librosa = pytest.importorskip("librosa")
    ours = mel_filterbank(257, 40, 16000, 20.0, 7600.0).numpy()
    theirs = librosa.filters.mel(
        sr=16000, n_fft=512, n_mels=40, fmin=20.0, fmax=7600.0, htk=True, norm=None
    )
    np.testing.assert_allclose(ours, theirs.T, atol=1e-5)  # librosa works in float32


def test_filterbank_from_the_formula():
    # With bins finer than the filters, each filter is a triangle peaking where the formula puts
    # its centre, and neighbouring triangles cross-fade: inside the covered band they sum to 1.
    rate, n_freqs, n_mels = 16000, 4001, 20
    bank = mel_filterbank(n_freqs, n_mels, rate, 100.0, 6000.0).numpy()
    freqs = np.linspace(0, rate / 2, n_freqs)
    points = _htk_centres(n_mels, 100.0, 6000.0)
    for m in range(n_mels):
        peak = np.argmax(bank[:, m])
        assert abs(freqs[peak] - points[m + 1]) <= freqs[1]
        assert bank[peak, m] == pytest.approx(1.0, abs=0.01)
        outside = (freqs <= points[m]) | (freqs >= points[m + 2])
        assert np.all(bank[outside, m] == 0)
    inside = (freqs >= points[1]) & (freqs <= points[-2])
    np.testing.assert_allclose(bank[inside].sum(axis=1), 1.0, atol=1e-5)
    assert np.all(bank >= 0)


def test_logmel_of_a_tone_peaks_in_the_nearest_band():
    settings = FeatureSettings(sample_rate=16000, n_mels=40)
    centres = _htk_centres(40, 0, 8000)[1:-1]
    for freq in (300.0, 1000.0, 2500.0, 5000.0):
        features = compute_features(_tone(freq, 16000, 4000), settings)
        assert features.shape == (frame_count(4000, settings), 40)
        assert features.mean(0).argmax().item() == np.argmin(np.abs(centres - freq))


def test_power_equals_torch_stft_and_mfcc_equals_scipy_dct():
    torch.manual_seed(1)
    samples = torch.randn(3000, dtype=torch.float64) * 0.1
    settings = FeatureSettings(sample_rate=8000, window_ms=32, hop_ms=10, n_mels=23)  # win 256
    logmel = compute_features(samples, settings)
    stft = torch.stft(
        samples, 256, hop_length=80, window=torch.hann_window(256, dtype=torch.float64),
        center=False, return_complex=True,
    ).abs().square().T  # fmt: skip
    filters = mel_filterbank(129, 23, 8000, 0.0, 4000.0).double()
    torch.testing.assert_close(logmel, torch.log(stft @ filters + 1e-6), rtol=1e-5, atol=1e-5)
    mfcc = compute_features(samples, FeatureSettings(**{**settings.to_dict(), "kind": "mfcc"}))
    expected = scipy.fft.dct(logmel.numpy(), type=2, norm="ortho", axis=-1)[:, :13]
    np.testing.assert_allclose(mfcc.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_batched_equals_per_utterance_and_short_audio_has_no_frames():
    settings = FeatureSettings(sample_rate=8000, kind="mfcc")
    batch = torch.randn(3, 1600)
    out = compute_features(batch, settings)
    assert out.shape == (3, frame_count(1600, settings), 13)
    for row in range(3):
        torch.testing.assert_close(out[row], compute_features(batch[row], settings))
    assert compute_features(torch.randn(199), settings).shape == (0, 13)
    assert compute_features(torch.randn(200), settings).shape == (1, 13)
    assert frame_count(199, settings) == 0 and frame_count(200 + 80 * 5, settings) == 6


def test_streaming_equals_whole_signal_for_any_chunking():
    settings = FeatureSettings(sample_rate=8000)
    samples = torch.randn(4321) * 0.3
    whole = compute_features(samples, settings)
    rng = np.random.default_rng(0)
    for _ in range(5):
        stream, parts, position = StreamingFeatures(settings), [], 0
        while position < len(samples):
            size = int(rng.choice([1, 7, 50, 79, 81, 200, 333, 1000]))
            parts.append(stream.push(samples[position : position + size]))
            position += size
        streamed = torch.cat(parts)
        assert streamed.shape == whole.shape and stream.frames_emitted == whole.shape[0]
        torch.testing.assert_close(streamed, whole, rtol=1e-5, atol=1e-5)


def test_normalizer_matches_numpy_and_round_trips():
    rng = np.random.default_rng(0)
    chunks = [torch.from_numpy(rng.normal(1e4, 2.0, (n, 5)).astype(np.float32)) for n in (3, 50, 1)]
    chunks[0][:, 4] = 7.0  # a column that is constant across ...
    chunks[1][:, 4] = 7.0
    chunks[2][:, 4] = 7.0  # ... every chunk: its std is floored, not 0
    norm = FeatureNormalizer.fit(iter(chunks + [torch.zeros(0, 5)]))
    stacked = torch.cat(chunks).double().numpy()
    np.testing.assert_allclose(norm.mean.numpy(), stacked.mean(0), rtol=1e-7)
    np.testing.assert_allclose(norm.std.numpy()[:4], stacked.std(0)[:4], rtol=1e-5)
    assert norm.std[4].item() == pytest.approx(1e-5)
    batch = torch.stack([chunks[1][:10], chunks[1][10:20]])
    torch.testing.assert_close(norm(batch)[1], norm(chunks[1][10:20]))
    restored = FeatureNormalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
    torch.testing.assert_close(restored.mean, norm.mean)
    torch.testing.assert_close(restored.std, norm.std)
    with pytest.raises(ValueError):
        FeatureNormalizer.fit([])


def _augment(features, lengths, seed, **kw):
    return spec_augment(features, lengths, generator=torch.Generator().manual_seed(seed), **kw)


def test_spec_augment_masks_only_within_bounds():
    features = torch.randn(8, 120, 40) + 5.0  # never 0 before masking
    lengths = torch.tensor([120, 100, 60, 30, 9, 0, 120, 77])
    out = _augment(features, lengths, 0)
    assert out is not features and not torch.equal(out, features)
    masked = out == 0
    torch.testing.assert_close(out[~masked], features[~masked])  # only masks
    for row, length in enumerate(lengths.tolist()):
        assert not masked[row, length:].any()  # padding untouched
        valid = masked[row, :length]
        if length == 0:
            continue
        full_time = valid.all(dim=1)  # frames masked across all features: time masks
        assert full_time.sum() <= 2 * min(10, math.floor(0.1 * length))
        full_freq = valid.all(dim=0)
        assert full_freq.sum() <= 2 * 8
        # Everything masked is in a time mask or a frequency mask.
        assert torch.equal(valid, full_time[:, None] | full_freq[None, :])
    assert torch.equal(out, _augment(features, lengths, 0))  # deterministic
    assert not torch.equal(out, _augment(features, lengths, 1))
    none = _augment(features, lengths, 0, freq_masks=0, time_masks=0)
    assert torch.equal(none, features)


def test_spec_augment_masks_are_used_over_many_draws():
    features = torch.ones(1, 200, 40)
    generator = torch.Generator().manual_seed(3)
    time_widths, freq_widths = [], []
    for _ in range(200):
        out = spec_augment(features, torch.tensor([200]), generator=generator, freq_masks=1,
                           time_masks=1)  # fmt: skip
        zero = out[0] == 0
        time_widths.append(int(zero.all(dim=1).sum()))
        freq_widths.append(int(zero.all(dim=0).sum()))
    assert set(time_widths) == set(range(0, 11)) and set(freq_widths) == set(range(0, 9))
