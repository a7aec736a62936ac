"""Forecast and anomaly plots: history, forecast and intervals in one picture; scores and flags."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: panels drawn at most (series x targets); a long table's remaining series are left out
MAX_PANELS = 6


def plot_forecasts(
    forecasts: Sequence[tuple],
    targets: Sequence[str],
    levels: Sequence[float],
    frequency: str | None,
    path: str | Path,
    *,
    lookback: int,
) -> Path:
    """One panel per (series, target): the last ``3 * lookback`` history values, the forecast,
    and the band between the lowest and highest quantile.

    ``forecasts`` holds ``(series, mean (S, n), quantiles (S, n, Q) or None)`` per series, where
    ``series`` is an ``rnnkit.data.series.Series``.
    """
    from matplotlib.figure import Figure

    from rnnkit.data.series import future_times

    panels = [(s, m, q, j) for s, m, q in forecasts for j in range(len(targets))][:MAX_PANELS]
    figure = Figure(figsize=(9, 2.6 * len(panels)), layout="constrained")
    axes = figure.subplots(len(panels), 1, squeeze=False)[:, 0]
    for axis, (series, mean, quantiles, j) in zip(axes, panels, strict=True):
        shown = min(len(series), 3 * lookback)
        steps = len(mean)
        if series.times is not None and frequency is not None:
            past = series.times[-shown:]
            future = future_times(series.times, frequency, steps)
        else:
            past = np.arange(len(series) - shown, len(series))
            future = np.arange(len(series), len(series) + steps)
        axis.plot(past, series.values[-shown:, j], color="0.3", linewidth=1, label="history")
        axis.plot(future, mean[:, j], color="tab:blue", linewidth=1.5, label="forecast")
        if quantiles is not None and len(levels) >= 2:
            axis.fill_between(
                future,
                quantiles[:, j, 0],
                quantiles[:, j, -1],
                color="tab:blue",
                alpha=0.25,
                label=f"{levels[0]:g}-{levels[-1]:g} quantiles",
            )
        title = targets[j] if not series.name else f"{series.name}: {targets[j]}"
        axis.set_title(title, fontsize=10)
        axis.legend(loc="upper left", fontsize=8)
    path = Path(path)
    figure.savefig(path, dpi=110)
    return path


def plot_anomalies(
    x: Sequence,
    values: np.ndarray,
    scores: np.ndarray,
    flags: np.ndarray,
    threshold: float,
    target: str,
    path: str | Path,
    labels: np.ndarray | None = None,
) -> Path:
    """The series with flagged points marked (and labelled anomalies shaded), and its scores."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 5), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True)
    top.plot(x, values, color="0.3", linewidth=0.8)
    flagged = np.flatnonzero(flags)
    top.scatter(np.asarray(x)[flagged], values[flagged], color="tab:red", s=10, label="flagged")
    if labels is not None:
        top.fill_between(
            x,
            values.min(),
            values.max(),
            where=labels > 0,
            color="tab:orange",
            alpha=0.2,
            label="labelled anomaly",
        )
    top.set_title(target, fontsize=10)
    top.legend(loc="upper left", fontsize=8)
    bottom.plot(x, scores, color="tab:blue", linewidth=0.8)
    bottom.axhline(threshold, color="tab:red", linestyle="--", linewidth=1, label="threshold")
    bottom.set_ylabel("score")
    bottom.legend(loc="upper left", fontsize=8)
    path = Path(path)
    figure.savefig(path, dpi=110)
    return path
