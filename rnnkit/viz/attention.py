"""Attention maps: which source tokens each output token looked at."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def plot_attention(
    weights: np.ndarray,
    source_tokens: Sequence[str],
    target_tokens: Sequence[str],
    path: str | Path,
    *,
    title: str | None = None,
) -> Path:
    """Draw ``weights (T, S)`` as a heat map into ``path`` (PNG): source tokens across the top,
    target tokens down the side, darker where more attention went. Returns the path."""
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (len(target_tokens), len(source_tokens)):
        raise ValueError(
            f"weights must have shape (len(target_tokens), len(source_tokens)) = "
            f"({len(target_tokens)}, {len(source_tokens)}), got {weights.shape}"
        )
    # A bare Figure renders with Agg without touching pyplot's global state or any GUI backend.
    from matplotlib.figure import Figure

    cell = 0.32
    width = max(4.0, 1.8 + cell * len(source_tokens))
    height = max(3.0, 1.4 + cell * len(target_tokens))
    figure = Figure(figsize=(width, height), dpi=120)
    axes = figure.add_subplot()
    image = axes.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(len(source_tokens)), [_visible(t) for t in source_tokens], rotation=90)
    axes.set_yticks(range(len(target_tokens)), [_visible(t) for t in target_tokens])
    axes.xaxis.tick_top()
    axes.set_xlabel("source")
    axes.set_ylabel("output")
    if title:
        axes.set_title(title, pad=12)
    figure.colorbar(image, ax=axes, fraction=0.04, pad=0.02)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def _visible(token: str) -> str:
    """A token as a tick label: spaces shown as ``␣`` so character models stay readable."""
    return token.replace(" ", "\u2423").replace("\n", "\u21b5") or "\u2205"
