"""Figures of polyphonic music models: frame NLL, Bay et al.'s frame accuracy, the marginal floor.

- ``nll_per_frame``: the negative log-likelihood of the frames, in nats, summed over the keys of
  a frame and averaged over frames (the figure of Boulanger-Lewandowski et al. 2012 and of the
  TCN paper, Bai et al. 2018);
- ``frame_accuracy``: Bay et al. 2009, ``TP / (TP + FP + FN)`` with the counts summed over all
  frames (a frame where both prediction and truth are silent adds nothing);
- ``key_marginal_nll``: the NLL per frame of the baseline that plays each key with its
  frequency in the training frames, independently of everything: a floor any model must beat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class FrameScore:
    """Sums over scored frames: NLL (nats), true and false positives, false negatives."""

    nll: float = 0.0
    frames: int = 0
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0

    def add(self, nll: float, frames: int, predicted: np.ndarray, truth: np.ndarray) -> None:
        """Add ``frames`` frames with summed ``nll``; ``predicted`` and ``truth`` are 0/1
        ``(frames, K)``."""
        predicted, truth = np.asarray(predicted, bool), np.asarray(truth, bool)
        self.nll += float(nll)
        self.frames += int(frames)
        self.true_positives += int((predicted & truth).sum())
        self.false_positives += int((predicted & ~truth).sum())
        self.false_negatives += int((~predicted & truth).sum())

    @property
    def nll_per_frame(self) -> float:
        return self.nll / self.frames if self.frames else float("nan")

    @property
    def frame_accuracy(self) -> float:
        return frame_accuracy(self.true_positives, self.false_positives, self.false_negatives)


def frame_accuracy(true_positives: int, false_positives: int, false_negatives: int) -> float:
    """Bay et al. 2009: ``TP / (TP + FP + FN)`` (1 when nothing sounds and nothing is predicted)."""
    total = true_positives + false_positives + false_negatives
    return true_positives / total if total else 1.0


def key_frequencies(rolls: Sequence[np.ndarray], smoothing: float = 1.0) -> np.ndarray:
    """Each key's share of frames ``(K,)`` in ``rolls`` (each ``(T, K)``), with ``smoothing``
    added to the on and off counts so that no key has probability 0 or 1."""
    frames = np.concatenate([np.asarray(r, np.float64) for r in rolls])
    return (frames.sum(0) + smoothing) / (len(frames) + 2 * smoothing)


def key_marginal_nll(
    train: Sequence[np.ndarray], test: Sequence[np.ndarray], smoothing: float = 1.0
) -> float:
    """NLL per frame (nats) of ``test`` under independent keys with the ``train`` frequencies."""
    p = key_frequencies(train, smoothing)
    frames = np.concatenate([np.asarray(r, np.float64) for r in test])
    log_likelihood = frames @ np.log(p) + (1 - frames) @ np.log1p(-p)
    return float(-log_likelihood.mean())
