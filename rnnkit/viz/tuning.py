"""Plots of a search (``rnnkit tune --show``): the trials' values, and the options' importance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path


def plot_tuning_history(
    trials: Sequence[tuple[int, float, str]],
    path: str | Path,
    *,
    metric: str,
    maximize: bool,
) -> Path | None:
    """Each trial's value against its number, and the best so far, into ``path``.

    ``trials`` are ``(number, value, state)`` with state ``complete`` or ``pruned`` (a pruned
    trial's value is its last validation's). Returns the path, or None with nothing to plot.
    """
    trials = sorted(trials)
    if not trials:
        return None
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4), dpi=110)
    axes = figure.add_subplot()
    for state, color, marker in (("complete", "tab:blue", "o"), ("pruned", "tab:gray", "x")):
        points = [(n, v) for n, v, s in trials if s == state]
        if points:
            axes.scatter(*zip(*points, strict=True), color=color, marker=marker, label=state)
    complete = [(n, v) for n, v, s in trials if s == "complete"]
    if complete:
        best, steps = None, []
        for number, value in complete:
            best = value if best is None else (max if maximize else min)(best, value)
            steps.append((number, best))
        axes.step(*zip(*steps, strict=True), where="post", color="tab:orange", label="best so far")
    axes.set_xlabel("trial")
    axes.set_ylabel(f"validation {metric}")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path)
    return path


def plot_importances(importances: Mapping[str, float], path: str | Path) -> Path | None:
    """A horizontal bar per option: its importance to the trials' values (they sum to 1)."""
    if not importances:
        return None
    from matplotlib.figure import Figure

    names = sorted(importances, key=importances.__getitem__)
    figure = Figure(figsize=(7, 0.8 + 0.4 * len(names)), dpi=110)
    axes = figure.add_subplot()
    axes.barh(names, [importances[name] for name in names], color="tab:blue")
    axes.set_xlabel("importance (PED-ANOVA)")
    axes.grid(alpha=0.3, axis="x")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path)
    return path
