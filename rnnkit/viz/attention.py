"""Attention maps: which source tokens each output token looked at (``plot_attention``), or
which part of an image each generated word looked at (``plot_image_attention``)."""

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


def plot_image_attention(
    image: np.ndarray,
    maps: np.ndarray,
    words: Sequence[str],
    path: str | Path,
    *,
    title: str | None = None,
    columns: int = 5,
) -> Path:
    """Draw, for each generated word, the image with its attention map over it, in a grid PNG.

    ``image (S, S, C)`` with values in 0..1 (``C`` 1 or 3); ``maps (T, h, w)``: the attention of
    each of the ``T`` words over the ``h x w`` feature positions, stretched over the image (each
    position covers ``S / h x S / w`` pixels). Brighter where more attention went; each map is
    scaled to its own maximum so that a spread-out map still shows its shape. Returns the path.
    """
    image, maps = np.asarray(image, dtype=float), np.asarray(maps, dtype=float)
    if maps.ndim != 3 or maps.shape[0] != len(words):
        raise ValueError(
            f"maps must have shape (len(words), h, w) = ({len(words)}, h, w), got {maps.shape}"
        )
    from matplotlib.figure import Figure

    side = image.shape[0]
    shown = image[..., 0] if image.shape[-1] == 1 else image
    columns = max(1, min(columns, len(words)))
    rows = -(-len(words) // columns)
    figure = Figure(figsize=(1.8 * columns, 1.9 * rows + (0.4 if title else 0)), dpi=120)
    for index, (word, weights) in enumerate(zip(words, maps, strict=True)):
        axes = figure.add_subplot(rows, columns, index + 1)
        axes.imshow(shown, cmap="gray", vmin=0.0, vmax=1.0, extent=(0, side, side, 0))
        scaled = weights / weights.max() if weights.max() > 0 else weights
        axes.imshow(scaled, cmap="inferno", alpha=0.55, vmin=0.0, vmax=1.0,
                    extent=(0, side, side, 0), interpolation="bilinear")  # fmt: skip
        axes.set_title(_visible(word), fontsize=9)
        axes.set_axis_off()
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def _visible(token: str) -> str:
    """A token as a tick label: spaces shown as ``␣`` so character models stay readable."""
    return token.replace(" ", "\u2423").replace("\n", "\u21b5") or "\u2205"
