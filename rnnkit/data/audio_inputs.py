"""Audio files to the normalised feature frames a model reads, as a run stores the recipe.

``AudioFeaturizer`` is what a speech or audio-classification run keeps in ``features.json``: the
feature settings (rate, log-mel or MFCC, sizes), the normalisation (``global``: the training
frames' mean and standard deviation per feature, fitted once when the run starts; ``utterance``:
each file's own mean and deviation, which needs the whole file and so cannot stream) and the
statistics. ``featurizer.read(path)`` gives a file's frames ``(T, F)`` exactly as training saw
them, whoever calls it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from rnnkit.data.audio import audio_info, read_audio
from rnnkit.data.audio_features import FeatureNormalizer, FeatureSettings, compute_features
from rnnkit.data.readers import read_json_file
from rnnkit.errors import UserError

NORMALIZATIONS = ("global", "utterance")


@dataclass
class AudioFeaturizer:
    """Settings, normalisation and (``global``) statistics that turn audio into model inputs."""

    settings: FeatureSettings
    normalize: str = "global"
    normalizer: FeatureNormalizer | None = None

    def __post_init__(self) -> None:
        if self.normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {self.normalize!r}")

    @property
    def num_features(self) -> int:
        return self.settings.num_features

    def raw_features(self, samples: Tensor) -> Tensor:
        """Unnormalised frames ``(T, F)`` of samples ``(N,)`` at ``settings.sample_rate``."""
        return compute_features(samples, self.settings)

    def normalise(self, frames: Tensor) -> Tensor:
        """Frames ``(T, F)`` normalised as the run says (``fit`` first for ``global``)."""
        if self.normalize == "utterance":
            mean = frames.mean(dim=0, keepdim=True)
            std = frames.std(dim=0, unbiased=False, keepdim=True).clamp_min(1e-5)
            return (frames - mean) / std
        if self.normalizer is None:
            raise ValueError("a global featurizer must be fitted before it normalises")
        return self.normalizer(frames)

    def read_raw(self, path: Path) -> Tensor:
        """Unnormalised frames ``(T, F)`` of an audio file; ``UserError`` naming it when it is
        unreadable or shorter than one analysis window."""
        samples = read_audio(path, self.settings.sample_rate)
        frames = self.raw_features(samples)
        if frames.shape[0] == 0:
            window_ms = self.settings.window_ms
            raise UserError(
                f"{path} is shorter than one {window_ms:g} ms analysis window; give longer audio."
            )
        return frames

    def read(self, path: Path) -> Tensor:
        """Normalised frames ``(T, F)`` of an audio file, as a model of the run reads them."""
        return self.normalise(self.read_raw(path))

    def fit(self, raw_frames: Iterable[Tensor]) -> AudioFeaturizer:
        """Fit the global statistics on training frames (nothing to fit for ``utterance``)."""
        if self.normalize == "global":
            self.normalizer = FeatureNormalizer.fit(raw_frames)
        return self

    def read_all(self, paths: Sequence[Path]) -> list[Tensor]:
        """Normalised frames of every file, fitting the global statistics first if unfitted."""
        raw = [self.read_raw(path) for path in paths]
        if self.normalize == "global" and self.normalizer is None:
            self.fit(raw)
        return [self.normalise(frames) for frames in raw]

    def to_dict(self) -> dict[str, Any]:
        """The content of a run's ``features.json``."""
        return {
            "settings": self.settings.to_dict(),
            "normalize": self.normalize,
            "statistics": self.normalizer.to_dict() if self.normalizer is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AudioFeaturizer:
        """The featurizer ``to_dict`` describes; ``KeyError``/``TypeError``/``ValueError`` when
        ``data`` is not one."""
        statistics = data["statistics"]
        normalizer = FeatureNormalizer.from_dict(statistics) if statistics is not None else None
        featurizer = cls(FeatureSettings.from_dict(data["settings"]), data["normalize"], normalizer)
        if featurizer.normalize == "global" and normalizer is None:
            raise ValueError("global normalisation without statistics")
        if normalizer is not None and normalizer.mean.numel() != featurizer.num_features:
            raise ValueError("statistics do not match the number of features")
        return featurizer

    @classmethod
    def load(cls, path: Path) -> AudioFeaturizer:
        """Read a run's ``features.json``; ``UserError`` naming it when missing or damaged."""
        return read_json_file(path, cls.from_dict, "audio feature settings")


def most_common_rate(paths: Iterable[Path]) -> int:
    """The most common sample rate of the files, read from their headers (the default rate of a
    run); ``UserError`` naming a file that is missing or not audio."""
    rates = Counter(audio_info(path)[0] for path in paths)
    if not rates:
        raise ValueError("most_common_rate needs at least one file")
    return rates.most_common(1)[0][0]
