"""Frame accuracy (Bay et al. 2009) and the per-key marginal baseline against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnkit.metrics.music import FrameScore, frame_accuracy, key_frequencies, key_marginal_nll


def test_frame_accuracy_sums_counts_over_frames():
    truth = np.array([[1, 1, 0, 0], [0, 0, 0, 0], [0, 1, 0, 1]])
    predicted = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [0, 1, 0, 1]])
    score = FrameScore()
    score.add(3.0, 2, predicted[:2], truth[:2])
    score.add(1.5, 1, predicted[2:], truth[2:])
    # TP = 1 + 2, FP = 1, FN = 1: 3 / 5 (not the mean of per-frame accuracies, (1/3 + 1) / 2)
    assert score.frame_accuracy == pytest.approx(3 / 5)
    assert score.nll_per_frame == pytest.approx(4.5 / 3)
    assert frame_accuracy(0, 0, 0) == 1.0


def test_key_marginal_nll_by_hand():
    train = [np.array([[1, 0], [1, 1]]), np.array([[0, 0], [1, 0]])]  # key 0: 3/4, key 1: 1/4
    test = [np.array([[1, 1], [0, 0]])]
    p = key_frequencies(train, smoothing=0.0)
    assert p.tolist() == [0.75, 0.25]
    want = -(math.log(0.75) + math.log(0.25) + math.log(0.25) + math.log(0.75)) / 2
    assert key_marginal_nll(train, test, smoothing=0.0) == pytest.approx(want)
    assert key_frequencies(train, smoothing=1.0).tolist() == [4 / 6, 2 / 6]
