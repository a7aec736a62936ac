"""Reading and writing audio files: float32 mono samples at the rate the caller asks for.

Decoding is done by ``soundfile`` (WAV in any PCM or float encoding, FLAC, OGG...), resampling
by ``soxr`` at high quality. Both are optional dependencies (``pip install 'rnnkit[speech]'``),
imported when a function needs them so the rest of rnnkit imports without them.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from torch import Tensor

from rnnkit.errors import UserError, require_extra

# soxr accepts any positive ratio, but far outside this range the result is meaningless (a
# 1 Hz file "resampled" to 16 kHz) and the memory use explodes: such a rate is a broken header.
MAX_RESAMPLE_RATIO = 256.0


def _soundfile() -> ModuleType:
    return require_extra("soundfile", "speech", "reading audio")


def _soxr() -> ModuleType:
    return require_extra("soxr", "speech", "resampling audio")


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise UserError(f"audio file {path} does not exist.")
    if not path.is_file():
        raise UserError(f"audio file {path} is not a file.")


def _check_rate(path: Path, rate: int, what: str) -> None:
    if not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise UserError(
            f"audio file {path}: the {what} sample rate {rate} is not a positive integer."
        )


def resample(
    samples: np.ndarray, from_rate: int, to_rate: int, path: str | Path = "<audio>"
) -> np.ndarray:
    """Resample float32 ``samples (N,)`` from ``from_rate`` to ``to_rate`` Hz with soxr (HQ).

    ``path`` only names the source in the ``UserError`` raised for a rate soxr cannot handle.
    """
    path = Path(path)
    _check_rate(path, from_rate, "file's")
    _check_rate(path, to_rate, "requested")
    if from_rate == to_rate:
        return samples
    ratio = to_rate / from_rate
    if not 1.0 / MAX_RESAMPLE_RATIO <= ratio <= MAX_RESAMPLE_RATIO:
        raise UserError(
            f"audio file {path}: cannot resample from {from_rate} Hz to {to_rate} Hz, a ratio "
            f"beyond {MAX_RESAMPLE_RATIO:g}x; convert the file to a usual sample rate first."
        )
    try:
        out = _soxr().resample(samples, from_rate, to_rate, quality="HQ")
    except (ValueError, RuntimeError) as error:
        raise UserError(
            f"audio file {path}: cannot resample from {from_rate} Hz to {to_rate} Hz ({error})."
        ) from error
    return np.ascontiguousarray(out, dtype=np.float32)


def read_audio(path: str | Path, sample_rate: int) -> Tensor:
    """Read ``path`` as float32 mono samples in [-1, 1] at ``sample_rate`` Hz: shape (N,).

    Channels are averaged; the signal is resampled with soxr when the file's rate differs.
    Raises ``UserError`` for a missing, unreadable or empty file, or an impossible rate.
    """
    path = Path(path)
    _check_exists(path)
    _check_rate(path, sample_rate, "requested")
    soundfile = _soundfile()
    try:
        data, file_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, ValueError, TypeError) as error:
        raise UserError(f"audio file {path} is not a readable audio file ({error}).") from error
    if data.shape[0] == 0:
        raise UserError(f"audio file {path} holds no samples.")
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    mono = resample(np.ascontiguousarray(mono), int(file_rate), sample_rate, path)
    if mono.shape[0] == 0:
        raise UserError(f"audio file {path} is too short to resample to {sample_rate} Hz.")
    # Float files may exceed full scale; the contract is [-1, 1], and soxr may overshoot a little.
    return torch.from_numpy(np.clip(mono, -1.0, 1.0))


def write_wav(path: str | Path, samples: Tensor | np.ndarray, sample_rate: int) -> None:
    """Write mono ``samples (N,)`` (floats in [-1, 1], clipped) as a 16-bit PCM WAV file."""
    if isinstance(samples, Tensor):
        samples = samples.detach().cpu().numpy()
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"write_wav expects mono samples of shape (N,), got {samples.shape}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    _soundfile().write(str(path), np.clip(samples, -1.0, 1.0), sample_rate, subtype="PCM_16")


def audio_info(path: str | Path) -> tuple[int, float]:
    """The sample rate of ``path`` and its duration in seconds, read from its header (no
    decoding)."""
    path = Path(path)
    _check_exists(path)
    try:
        info = _soundfile().info(str(path))
    except (RuntimeError, ValueError, TypeError) as error:
        raise UserError(f"audio file {path} is not a readable audio file ({error}).") from error
    if info.frames == 0:
        raise UserError(f"audio file {path} holds no samples.")
    if info.samplerate <= 0:
        raise UserError(f"audio file {path} has an invalid sample rate {info.samplerate}.")
    return int(info.samplerate), info.frames / info.samplerate


def audio_seconds(path: str | Path) -> float:
    """The duration of ``path`` in seconds, read from its header (no decoding)."""
    return audio_info(path)[1]
