"""A piano roll as a picture: keys up, time across, a primed part set apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np

LOWEST_PITCH = 21


def plot_piano_roll(
    roll: np.ndarray,
    path: str | Path,
    *,
    prime_frames: int = 0,
    frames_per_quarter: int | None = 8,
    title: str | None = None,
) -> Path:
    """Draw ``roll (T, K)`` (0/1, column 0 = MIDI pitch 21) into the PNG ``path``.

    The first ``prime_frames`` frames (a prime the rest continues) are drawn in grey and the
    generated ones in blue; the time axis counts quarter notes when ``frames_per_quarter`` is
    given, frames otherwise. Only the range of keys that sound is shown.
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    roll = np.asarray(roll, dtype=np.float64)
    sounding = np.flatnonzero(roll.any(0))
    low, high = (sounding[0], sounding[-1]) if sounding.size else (0, roll.shape[1] - 1)
    low, high = max(0, low - 2), min(roll.shape[1] - 1, high + 2)
    shown = roll[:, low : high + 1].T.copy()  # (keys, T)
    shown[:, prime_frames:] *= 2  # 1: prime, 2: generated
    scale = frames_per_quarter or 1
    figure = Figure(figsize=(min(16, 3 + roll.shape[0] / 16), 4), dpi=110)
    axes = figure.add_subplot()
    axes.imshow(
        shown,
        aspect="auto",
        origin="lower",
        interpolation="nearest",
        cmap=ListedColormap(["white", "0.6", "tab:blue"]),
        vmin=0,
        vmax=2,
        extent=(0, roll.shape[0] / scale, LOWEST_PITCH + low - 0.5, LOWEST_PITCH + high + 0.5),
    )
    if prime_frames:
        axes.axvline(prime_frames / scale, color="tab:red", linewidth=1)
    axes.set_xlabel("quarter notes" if frames_per_quarter else "frames")
    axes.set_ylabel("MIDI pitch")
    if title:
        axes.set_title(title)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path)
    return path
