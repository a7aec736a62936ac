"""A CTC alignment: which frames of an utterance emit which character."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import Tensor


def plot_ctc_alignment(
    frames: Tensor,
    symbols: Sequence[str | None],
    probabilities: Tensor,
    *,
    frames_per_step: int,
    hop_seconds: float,
    path: str | Path,
    title: str | None = None,
) -> Path:
    """Draw the features ``frames (T, F)`` as a spectrogram and, below it, the probabilities of
    the blank (index 0) and of the likeliest character at each output step.

    ``symbols (T')`` is the best path (None for the blank), ``probabilities (T', V)`` the model's
    output distribution per step; each step covers ``frames_per_step`` frames of
    ``hop_seconds``. A character is marked where its run of steps starts.
    """
    from matplotlib.figure import Figure

    step_seconds = frames_per_step * hop_seconds
    duration = frames.shape[0] * hop_seconds
    figure = Figure(figsize=(10, 5), dpi=110)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    top.imshow(
        frames.T.float().numpy(),
        origin="lower",
        aspect="auto",
        extent=(0.0, duration, 0, frames.shape[1]),
        cmap="magma",
    )
    top.set_ylabel("feature")
    previous = None
    for step, symbol in enumerate(symbols):
        if symbol is not None and symbol != previous:
            time = step * step_seconds
            top.axvline(time, color="white", linewidth=0.6, alpha=0.7)
            label = "␣" if symbol == " " else symbol
            top.text(time, frames.shape[1] * 1.02, label, ha="center", va="bottom", fontsize=9)
        previous = symbol
    times = [(step + 0.5) * step_seconds for step in range(len(symbols))]
    blank = probabilities[:, 0].tolist()
    character = probabilities[:, 1:].max(dim=-1).values.tolist()
    bottom.plot(times, character, color="tab:orange", linewidth=1.0, label="likeliest character")
    bottom.plot(times, blank, color="tab:gray", linewidth=0.8, alpha=0.7, label="blank")
    bottom.set_ylim(0, 1.05)
    bottom.set_xlabel("seconds")
    bottom.set_ylabel("probability")
    bottom.legend(loc="upper right", fontsize=8)
    if title:
        top.set_title(title, pad=18)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path)
    return path
