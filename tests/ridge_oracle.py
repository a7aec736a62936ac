"""Ridge regression by NumPy least squares: the oracle of the forecaster's linear part."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def numpy_ridge(x: np.ndarray, y: np.ndarray, penalty: float) -> tuple[np.ndarray, np.ndarray]:
    """``W (H, L)``, ``b (H,)`` of ``x (M, L)`` -> ``y (M, H)``, bias penalised too: ordinary
    least squares on the rows augmented with ``sqrt(penalty) I``."""
    rows, width = x.shape
    inputs = np.concatenate([x, np.ones((rows, 1))], axis=1)
    a = np.concatenate([inputs, np.sqrt(penalty) * np.eye(width + 1)])
    b = np.concatenate([y, np.zeros((width + 1, y.shape[1]))])
    solution = np.linalg.lstsq(a, b, rcond=None)[0]
    return solution[:-1].T, solution[-1]


def numpy_combined_ridge(
    x: np.ndarray, y: np.ndarray, factors: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """The mean ``W``, ``b`` of the ridge fits with penalty ``factor * M`` for each factor."""
    fits = [numpy_ridge(x, y, factor * len(x)) for factor in factors]
    return np.mean([w for w, _ in fits], axis=0), np.mean([b for _, b in fits], axis=0)
