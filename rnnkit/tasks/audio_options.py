"""The options of every task that reads audio (speech, and classify with ``--audio``): how a
file becomes feature frames. They fix the data layout, so a resumed run keeps them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rnnkit.data.audio_features import FeatureSettings
from rnnkit.data.audio_inputs import NORMALIZATIONS, AudioFeaturizer
from rnnkit.errors import UserError
from rnnkit.tasks.options import option

#: the ``--help`` panel of the audio options
AUDIO = "Audio"


@dataclass
class AudioOptions:
    """Mixed into a task's options: the feature settings of its audio input."""

    label_from_name: str | None = option(
        None,
        help="For a folder of audio: a regex whose group 'text' (or first group) in a file name "
        "is its transcript or label.",
        fixed=True,
    )
    path_column: str = option("path", help="Column holding the audio paths.", fixed=True)
    sample_rate: int | None = option(
        None,
        help="Resample audio to this rate (default: the training files' most common rate).",
        panel=AUDIO,
        fixed=True,
    )
    features: Literal["logmel", "mfcc"] = option(
        "logmel", help="Log-mel filterbank or MFCC frames.", panel=AUDIO, fixed=True
    )
    n_mels: int = option(40, help="Mel filters.", panel=AUDIO, fixed=True)
    n_mfcc: int = option(
        13, help="MFCC coefficients (with --features mfcc).", panel=AUDIO, fixed=True
    )
    normalize: Literal["global", "utterance"] = option(
        "global",
        help="global: the training frames' statistics (can stream); utterance: each file's own.",
        panel=AUDIO,
        fixed=True,
    )

    def validate_audio(self) -> None:
        """Check the audio options (call from the task's ``validate``)."""
        self.require_known("features", ("logmel", "mfcc"))  # type: ignore[attr-defined]
        self.require_known("normalize", NORMALIZATIONS)  # type: ignore[attr-defined]
        self.require_whole_numbers("n_mels", "n_mfcc")  # type: ignore[attr-defined]
        self.require_whole_numbers(  # type: ignore[attr-defined]
            "sample_rate", optional=True, at_least=1000
        )
        if self.features == "mfcc" and self.n_mfcc > self.n_mels:
            raise UserError(f"--n-mfcc {self.n_mfcc} cannot exceed --n-mels {self.n_mels}.")

    def featurizer(self, sample_rate: int) -> AudioFeaturizer:
        """An unfitted featurizer as these options describe it, at ``sample_rate``."""
        settings = FeatureSettings(
            sample_rate=sample_rate, kind=self.features, n_mels=self.n_mels, n_mfcc=self.n_mfcc
        )
        return AudioFeaturizer(settings, self.normalize)
