"""The confusion matrix of a classifier as a picture: ``confusion.png``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def plot_confusion_matrix(
    matrix: np.ndarray, class_names: Sequence[str], path: str | Path, *, title: str | None = None
) -> Path:
    """Draw counts ``(K, K)`` (rows: true class, columns: predicted) with each cell's count,
    shaded by the share of its row, into ``path``; return the path."""
    from matplotlib.figure import Figure  # a bare Figure needs no GUI backend

    matrix = np.asarray(matrix)
    rows = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, rows, out=np.zeros(matrix.shape, dtype=float), where=rows > 0)
    size = max(3.5, 0.5 * len(class_names) + 2.0)
    figure = Figure(figsize=(size + 1.0, size))
    axes = figure.add_subplot()
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, label="share of the true class")
    ticks = np.arange(len(class_names))
    axes.set_xticks(ticks, labels=[str(c) for c in class_names], rotation=45, ha="right")
    axes.set_yticks(ticks, labels=[str(c) for c in class_names])
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if len(class_names) <= 30:
        for (row, column), count in np.ndenumerate(matrix):
            colour = "white" if shares[row, column] > 0.5 else "black"
            axes.text(column, row, str(count), ha="center", va="center", color=colour, fontsize=8)
    axes.set_title(title or f"confusion matrix ({int(matrix.sum())} examples)")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100)
    return path
