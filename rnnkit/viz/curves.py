"""Training curves: ``loss.png`` from the rows of ``metrics.csv``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def plot_loss_curves(
    rows: Sequence[Mapping[str, Any]],
    path: str | Path,
    *,
    validation_metric: str | None = None,
    title: str | None = None,
) -> Path | None:
    """Plot training loss (and ``val_<validation_metric>``) against the step into ``path``.

    ``rows`` are metrics.csv rows (dicts with ``step`` and any of ``train_loss``,
    ``val_<metric>``). Returns the path written, or ``None`` when there is nothing to plot.
    """
    train = [(r["step"], r["train_loss"]) for r in rows if _is_number(r.get("train_loss"))]
    val_key = f"val_{validation_metric}" if validation_metric else None
    val = [(r["step"], r[val_key]) for r in rows if val_key and _is_number(r.get(val_key))]
    if not train and not val:
        return None

    # A bare Figure renders with Agg without touching pyplot's global state or any GUI backend.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4), dpi=110)
    axes = figure.add_subplot()
    if train:
        axes.plot(*zip(*train, strict=True), label="train loss", color="tab:blue", linewidth=1.2)
    if val:
        axes.plot(
            *zip(*val, strict=True),
            label=f"validation {validation_metric}",
            color="tab:orange",
            marker="o",
            markersize=3,
        )
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.grid(alpha=0.3)
    axes.legend()
    if title:
        axes.set_title(title)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path)
    return path


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and value == value  # excludes None, text and NaN
