"""Reading audio: encodings, channel mixing, resampling and the errors for bad files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.signal import resample_poly

from rnnkit.data.audio import audio_info, audio_seconds, read_audio, write_wav
from rnnkit.errors import UserError


def _tone(freq: float, rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float64)


@pytest.mark.parametrize(
    ("subtype", "tolerance"),
    [("PCM_U8", 1 / 100), ("PCM_16", 1 / 30000), ("PCM_24", 1e-6), ("PCM_32", 1e-7),
     ("FLOAT", 1e-7), ("DOUBLE", 1e-7)],
)  # fmt: skip
def test_every_wav_encoding_reads_back_the_samples(tmp_path, subtype, tolerance):
    signal = _tone(440, 8000, 0.1)
    path = tmp_path / "a.wav"
    sf.write(path, signal, 8000, subtype=subtype)
    samples = read_audio(path, 8000)
    assert samples.dtype == torch.float32 and samples.shape == (800,)
    np.testing.assert_allclose(samples.numpy(), signal, atol=tolerance)


def test_flac_reads(tmp_path):
    signal = _tone(300, 16000, 0.05)
    sf.write(tmp_path / "a.flac", signal, 16000, subtype="PCM_16")
    np.testing.assert_allclose(read_audio(tmp_path / "a.flac", 16000).numpy(), signal, atol=1e-4)


def test_channels_are_averaged(tmp_path):
    left, right = _tone(440, 8000, 0.1), _tone(1000, 8000, 0.1, amplitude=0.25)
    sf.write(tmp_path / "s.wav", np.stack([left, right], axis=1), 8000, subtype="FLOAT")
    np.testing.assert_allclose(read_audio(tmp_path / "s.wav", 8000).numpy(), (left + right) / 2,
                               atol=1e-6)  # fmt: skip


def test_resampling_matches_a_polyphase_oracle(tmp_path):
    signal = _tone(440, 8000, 0.5)
    sf.write(tmp_path / "a.wav", signal, 8000, subtype="FLOAT")
    up = read_audio(tmp_path / "a.wav", 16000).numpy()
    expected = resample_poly(signal, 2, 1)
    assert up.shape == (8000,)
    # Both are good low-pass resamplers of a band-limited tone: equal away from the edges.
    np.testing.assert_allclose(up[400:-400], expected[400:-400], atol=2e-3)
    spectrum = np.abs(np.fft.rfft(up))
    assert np.argmax(spectrum) * 16000 / len(up) == pytest.approx(440, abs=2)


def test_write_wav_writes_16_bit_pcm_and_clips(tmp_path):
    path = tmp_path / "sub" / "w.wav"
    write_wav(path, torch.tensor([0.0, 0.5, -0.5, 2.0, -2.0]), 8000)
    info = sf.info(path)
    assert info.subtype == "PCM_16" and info.samplerate == 8000 and info.channels == 1
    np.testing.assert_allclose(read_audio(path, 8000).numpy(), [0, 0.5, -0.5, 1, -1], atol=1e-4)
    assert audio_seconds(path) == pytest.approx(5 / 8000)
    assert audio_info(path) == (8000, pytest.approx(5 / 8000))


def test_errors_name_the_file(tmp_path):
    missing = tmp_path / "missing.wav"
    with pytest.raises(UserError, match="missing.wav"):
        read_audio(missing, 8000)
    with pytest.raises(UserError, match="missing.wav"):
        audio_seconds(missing)
    text = tmp_path / "text.wav"
    text.write_text("not audio at all")
    with pytest.raises(UserError, match="text.wav.*not a readable audio file"):
        read_audio(text, 8000)
    with pytest.raises(UserError, match="text.wav"):
        audio_seconds(text)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0), 8000, subtype="PCM_16")
    with pytest.raises(UserError, match="empty.wav.*no samples"):
        read_audio(empty, 8000)
    with pytest.raises(UserError, match="empty.wav.*no samples"):
        audio_seconds(empty)
    with pytest.raises(UserError, match="empty.wav.*no samples"):
        audio_info(empty)
    good = tmp_path / "good.wav"
    write_wav(good, np.zeros(100), 8000)
    with pytest.raises(UserError, match="good.wav"):
        read_audio(good, 0)
    with pytest.raises(UserError, match="good.wav.*ratio"):
        read_audio(good, 8000 * 1000)
