"""The featurizer a run stores: global statistics from the training frames, per-file
normalisation, and a JSON round trip that rebuilds the same inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rnnkit.data.audio import write_wav
from rnnkit.data.audio_features import FeatureSettings
from rnnkit.data.audio_inputs import AudioFeaturizer, most_common_rate
from rnnkit.errors import UserError


def tones(folder, rates=(8000, 8000, 16000)):
    paths = []
    for i, rate in enumerate(rates):
        t = np.arange(int(0.3 * rate)) / rate
        path = folder / f"{i}.wav"
        write_wav(path, 0.4 * np.sin(2 * np.pi * (300 + 200 * i) * t), rate)
        paths.append(path)
    return paths


def test_global_statistics_are_those_of_all_training_frames(tmp_path):
    paths = tones(tmp_path)
    featurizer = AudioFeaturizer(FeatureSettings(sample_rate=8000, n_mels=20))
    frames = featurizer.read_all(paths)
    raw = torch.cat([featurizer.read_raw(p) for p in paths]).double()
    torch.testing.assert_close(featurizer.normalizer.mean.double(), raw.mean(0), rtol=0, atol=1e-5)
    torch.testing.assert_close(
        featurizer.normalizer.std.double(), raw.std(0, unbiased=False), rtol=1e-4, atol=1e-5
    )
    joined = torch.cat(frames).double()
    torch.testing.assert_close(
        joined.mean(0), torch.zeros(20, dtype=torch.float64), atol=1e-4, rtol=0
    )
    again = AudioFeaturizer.from_dict(json.loads(json.dumps(featurizer.to_dict())))
    torch.testing.assert_close(again.read(paths[2]), frames[2])


def test_utterance_normalisation_uses_each_files_own_statistics(tmp_path):
    path = tones(tmp_path, rates=(8000,))[0]
    featurizer = AudioFeaturizer(FeatureSettings(sample_rate=8000), normalize="utterance")
    frames = featurizer.read(path)
    raw = featurizer.read_raw(path)
    expected = (raw - raw.mean(0)) / raw.std(0, unbiased=False).clamp_min(1e-5)
    torch.testing.assert_close(frames, expected)
    assert AudioFeaturizer.from_dict(featurizer.to_dict()).normalize == "utterance"


def test_the_most_common_rate_and_a_file_shorter_than_a_window(tmp_path):
    assert most_common_rate(tones(tmp_path)) == 8000
    short = tmp_path / "short.wav"
    write_wav(short, np.zeros(50), 8000)
    featurizer = AudioFeaturizer(FeatureSettings(sample_rate=8000))
    with pytest.raises(UserError, match="short.wav is shorter than one 25 ms"):
        featurizer.read_raw(short)


def test_damaged_settings_are_refused():
    good = AudioFeaturizer(FeatureSettings(sample_rate=8000, n_mels=4)).fit([torch.randn(9, 4)])
    data = good.to_dict()
    with pytest.raises(ValueError):
        AudioFeaturizer.from_dict({**data, "statistics": None})
    with pytest.raises(ValueError):
        AudioFeaturizer.from_dict({**data, "statistics": {"mean": [0.0], "std": [1.0]}})
