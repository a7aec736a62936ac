"""Acoustic features: log-mel filterbanks and MFCCs, streaming, normalisation and SpecAugment.

Frames are not centred (no padding at the edges): frame t covers samples
``[t * hop_length, t * hop_length + win_length)`` and depends on nothing else, so features
computed chunk by chunk while audio streams in (``StreamingFeatures``) equal the features of the
whole signal exactly. A signal shorter than one window has zero frames.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import Tensor

FEATURE_KINDS = ("logmel", "mfcc")
LOG_FLOOR = 1e-6  # added to the mel power before the log: silence gives log(1e-6), not -inf
STD_FLOOR = 1e-5


@dataclass
class FeatureSettings:
    """How samples become feature frames; stored in a run's config to redo it at inference."""

    sample_rate: int = 16000
    kind: str = "logmel"  # "logmel" or "mfcc"
    n_mels: int = 40
    n_mfcc: int = 13
    window_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int | None = None  # None: the next power of two >= the window
    f_min: float = 0.0
    f_max: float | None = None  # None: sample_rate / 2

    def __post_init__(self) -> None:
        if self.kind not in FEATURE_KINDS:
            raise ValueError(f"kind must be one of {FEATURE_KINDS}, got {self.kind!r}")
        if self.sample_rate <= 0 or self.n_mels <= 0 or self.n_mfcc <= 0:
            raise ValueError("sample_rate, n_mels and n_mfcc must be positive")
        if self.kind == "mfcc" and self.n_mfcc > self.n_mels:
            raise ValueError(f"n_mfcc ({self.n_mfcc}) cannot exceed n_mels ({self.n_mels})")
        if self.win_length < 2 or self.hop_length < 1:
            raise ValueError(
                f"window_ms={self.window_ms} and hop_ms={self.hop_ms} give a window of "
                f"{self.win_length} and a hop of {self.hop_length} samples: too small"
            )
        if self.n_fft is not None and self.n_fft < self.win_length:
            raise ValueError(f"n_fft ({self.n_fft}) is shorter than the window ({self.win_length})")
        if not 0.0 <= self.f_min < self.upper_frequency <= self.sample_rate / 2:
            raise ValueError(
                f"need 0 <= f_min < f_max <= sample_rate / 2, got f_min={self.f_min}, "
                f"f_max={self.upper_frequency}, sample_rate={self.sample_rate}"
            )

    @property
    def win_length(self) -> int:
        """The analysis window in samples."""
        return round(self.sample_rate * self.window_ms / 1000)

    @property
    def hop_length(self) -> int:
        """The shift between frames in samples."""
        return round(self.sample_rate * self.hop_ms / 1000)

    @property
    def fft_size(self) -> int:
        """``n_fft`` or the next power of two >= the window."""
        return self.n_fft if self.n_fft is not None else 1 << (self.win_length - 1).bit_length()

    @property
    def upper_frequency(self) -> float:
        """``f_max`` or the Nyquist frequency."""
        return self.f_max if self.f_max is not None else self.sample_rate / 2

    @property
    def num_features(self) -> int:
        """F, the width of a frame."""
        return self.n_mels if self.kind == "logmel" else self.n_mfcc

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSettings:
        known = {field.name for field in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


def hz_to_mel(hz: Tensor | float) -> Tensor:
    """The HTK mel scale: 2595 * log10(1 + f / 700)."""
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(hz, dtype=torch.float64) / 700.0)


def mel_to_hz(mel: Tensor | float) -> Tensor:
    """The inverse of ``hz_to_mel``."""
    return 700.0 * (10.0 ** (torch.as_tensor(mel, dtype=torch.float64) / 2595.0) - 1.0)


def mel_filterbank(
    n_freqs: int, n_mels: int, sample_rate: int, f_min: float, f_max: float
) -> Tensor:
    """Triangular filters, equally spaced on the HTK mel scale: shape (n_freqs, n_mels), float32.

    ``n_freqs`` bins span 0 .. sample_rate / 2 (``n_fft // 2 + 1`` of them); filter m rises
    linearly from 0 at the (m-1)-th mel point to 1 at the m-th and falls to 0 at the (m+1)-th,
    unnormalised (peak 1, as HTK and ``librosa.filters.mel(htk=True, norm=None)``).
    """
    freqs = torch.linspace(0.0, sample_rate / 2, n_freqs, dtype=torch.float64)
    points = mel_to_hz(torch.linspace(float(hz_to_mel(f_min)), float(hz_to_mel(f_max)), n_mels + 2))
    lower, centre, upper = points[:-2], points[1:-1], points[2:]
    rising = (freqs[:, None] - lower) / (centre - lower)
    falling = (upper - freqs[:, None]) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).float()


def dct_matrix(n_in: int, n_out: int) -> Tensor:
    """The orthonormal DCT-II as a matrix (n_in, n_out): ``x @ D`` = scipy's dct(x, 2, "ortho")."""
    n = torch.arange(n_in, dtype=torch.float64)
    k = torch.arange(n_out, dtype=torch.float64)
    basis = torch.cos(math.pi / n_in * (n[:, None] + 0.5) * k[None, :]) * math.sqrt(2.0 / n_in)
    basis[:, 0] /= math.sqrt(2.0)
    return basis.float()


@functools.lru_cache(maxsize=16)
def _matrices(settings_key: tuple) -> tuple[Tensor, Tensor, Tensor | None]:
    settings = FeatureSettings(*settings_key)
    window = torch.hann_window(settings.win_length, periodic=True, dtype=torch.float64).float()
    filters = mel_filterbank(
        settings.fft_size // 2 + 1,
        settings.n_mels,
        settings.sample_rate,
        settings.f_min,
        settings.upper_frequency,
    )
    dct = dct_matrix(settings.n_mels, settings.n_mfcc) if settings.kind == "mfcc" else None
    return window, filters, dct


def _key(settings: FeatureSettings) -> tuple:
    return tuple(getattr(settings, field.name) for field in fields(settings))


def frame_count(num_samples: int, settings: FeatureSettings) -> int:
    """The number of frames ``compute_features`` gives for ``num_samples`` samples."""
    if num_samples < settings.win_length:
        return 0
    return 1 + (num_samples - settings.win_length) // settings.hop_length


def compute_features(samples: Tensor, settings: FeatureSettings) -> Tensor:
    """Features of ``samples (N,)`` or ``(B, N)``: ``(T, F)`` or ``(B, T, F)``, T = frame_count(N).

    Hann-windowed frames, power spectrum (``n_fft``-point, the window zero-padded at the end,
    which gives the same power as ``torch.stft`` with ``center=False``), mel filterbank,
    ``log(x + 1e-6)``, and for ``mfcc`` the orthonormal DCT-II keeping ``n_mfcc`` coefficients.
    In a padded batch, the frames of a row past ``frame_count(length)`` see padding.
    """
    if samples.dim() not in (1, 2):
        raise ValueError(f"samples must be (N,) or (B, N), got shape {tuple(samples.shape)}")
    if not samples.is_floating_point():
        raise TypeError(f"samples must be floating point, got {samples.dtype}")
    window, filters, dct = _matrices(_key(settings))
    dtype, device = samples.dtype, samples.device
    count = frame_count(samples.shape[-1], settings)
    if count == 0:
        return samples.new_zeros(*samples.shape[:-1], 0, settings.num_features)
    # unfold rather than torch.stft: the frame count must follow the window, not n_fft.
    frames = samples.unfold(-1, settings.win_length, settings.hop_length)  # (..., T, win)
    spectrum = torch.fft.rfft(frames * window.to(device, dtype), n=settings.fft_size)
    power = spectrum.real.square() + spectrum.imag.square()
    features = torch.log(power @ filters.to(device, dtype) + LOG_FLOOR)
    if dct is not None:
        features = features @ dct.to(device, dtype)
    return features


class StreamingFeatures:
    """Features of audio that arrives in chunks, equal to ``compute_features`` of the whole.

    ``push`` returns the frames that the samples so far complete and keeps the samples that later
    frames still need (less than one window).
    """

    def __init__(self, settings: FeatureSettings) -> None:
        self.settings = settings
        self._pending = torch.zeros(0)
        self.frames_emitted = 0

    def reset(self) -> None:
        """Forget the pending samples: the next push starts a new signal."""
        self._pending = torch.zeros(0)
        self.frames_emitted = 0

    def push(self, samples: Tensor) -> Tensor:
        """Add ``samples (n,)``; return the newly completed frames ``(t, F)`` (t may be 0)."""
        if samples.dim() != 1:
            raise ValueError(f"push expects samples of shape (n,), got {tuple(samples.shape)}")
        if self._pending.numel() == 0:
            pending = samples
        else:
            pending = torch.cat([self._pending.to(samples.device, samples.dtype), samples])
        count = frame_count(pending.shape[0], self.settings)
        hop, win = self.settings.hop_length, self.settings.win_length
        if count == 0:
            self._pending = pending
            return pending.new_zeros(0, self.settings.num_features)
        frames = compute_features(pending[: (count - 1) * hop + win], self.settings)
        self._pending = pending[count * hop :].clone()
        self.frames_emitted += count
        return frames


@dataclass
class FeatureNormalizer:
    """Global mean and variance normalisation of feature frames: ``(x - mean) / std``."""

    mean: Tensor  # (F,)
    std: Tensor  # (F,)

    @classmethod
    def fit(cls, features: Iterable[Tensor]) -> FeatureNormalizer:
        """Fit over every frame of ``features`` (each ``(T, F)``), in float64.

        Per-utterance means and centred sums of squares are merged with Chan et al.'s pairwise
        formula, which stays accurate where ``E[x^2] - E[x]^2`` would cancel.
        """
        count, mean, m2 = 0, None, None
        for chunk in features:
            if chunk.dim() != 2:
                raise ValueError(f"features must be (T, F), got shape {tuple(chunk.shape)}")
            if chunk.shape[0] == 0:
                continue
            chunk = chunk.detach().to("cpu", torch.float64)
            n = chunk.shape[0]
            chunk_mean = chunk.mean(dim=0)
            chunk_m2 = (chunk - chunk_mean).square().sum(dim=0)
            if mean is None:
                count, mean, m2 = n, chunk_mean, chunk_m2
                continue
            total = count + n
            delta = chunk_mean - mean
            mean = mean + delta * (n / total)
            m2 = m2 + chunk_m2 + delta.square() * (count * n / total)
            count = total
        if mean is None or m2 is None:
            raise ValueError("cannot fit a FeatureNormalizer on no frames")
        std = torch.sqrt(m2 / count).clamp(min=STD_FLOOR)
        return cls(mean=mean.float(), std=std.float())

    def __call__(self, features: Tensor) -> Tensor:
        """Normalise ``(T, F)`` or ``(B, T, F)`` features (padding frames are changed too)."""
        mean = self.mean.to(features.device, features.dtype)
        std = self.std.to(features.device, features.dtype)
        return (features - mean) / std

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureNormalizer:
        mean = torch.tensor(data["mean"], dtype=torch.float32)
        std = torch.tensor(data["std"], dtype=torch.float32)
        if mean.dim() != 1 or mean.shape != std.shape:
            raise ValueError("a FeatureNormalizer needs 'mean' and 'std' lists of equal length")
        return cls(mean=mean, std=std.clamp(min=STD_FLOOR))


def _band_masks(
    count: int, max_width: Tensor, extent: Tensor, size: int, generator: torch.Generator
) -> Tensor:
    """``count`` random bands per row: (B, size) bool, band width in [0, max_width], inside
    ``[0, extent)``; ``max_width`` and ``extent`` are (B,) long tensors."""
    rows = max_width.shape[0]
    positions = torch.arange(size)
    mask = torch.zeros(rows, size, dtype=torch.bool)
    for _ in range(count):
        draws = torch.rand(rows, 2, generator=generator, device=generator.device).cpu()
        width = torch.floor(draws[:, 0] * (max_width + 1).double()).long()
        start = torch.floor(draws[:, 1] * (extent - width + 1).clamp(min=1).double()).long()
        mask |= (positions >= start[:, None]) & (positions < (start + width)[:, None])
    return mask


def spec_augment(
    features: Tensor,
    lengths: Tensor,
    *,
    generator: torch.Generator,
    freq_masks: int = 2,
    freq_width: int = 8,
    time_masks: int = 2,
    time_width: int = 10,
    time_ratio: float = 0.1,
) -> Tensor:
    """SpecAugment's frequency and time masking (Park et al. 2019, no time warping).

    ``features (B, T, F)`` with valid lengths ``lengths (B,)``; returns a new tensor where each
    row has ``freq_masks`` bands of width 0..``freq_width`` features and ``time_masks`` bands of
    width 0..min(``time_width``, ``time_ratio`` x length) frames set to 0 (the mean after
    normalisation); masks stay inside the valid frames. The same generator state gives the same
    masks.
    """
    if features.dim() != 3:
        raise ValueError(f"features must be (B, T, F), got shape {tuple(features.shape)}")
    batch, steps, width = features.shape
    lengths = lengths.detach().to("cpu", torch.long).clamp(max=steps)
    freq = _band_masks(
        freq_masks,
        torch.full((batch,), min(freq_width, width), dtype=torch.long),
        torch.full((batch,), width, dtype=torch.long),
        width,
        generator,
    )
    time_limit = torch.floor(lengths.double() * time_ratio).long().clamp(max=time_width, min=0)
    time = _band_masks(time_masks, time_limit, lengths, steps, generator)
    mask = (freq[:, None, :] | time[:, :, None]) & (torch.arange(steps) < lengths[:, None])[
        ..., None
    ]
    return features.masked_fill(mask.to(features.device), 0.0)
