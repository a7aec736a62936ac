"""Pieces of ``describe(run_dir)`` (what ``rnnkit info`` shows) that several tasks share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn


def parameter_count(build_model: Callable[[], nn.Module]) -> int | None:
    """How many parameters ``build_model()`` has; None when the stored config cannot build it."""
    try:
        return sum(p.numel() for p in build_model().parameters())
    except (ValueError, TypeError):
        return None


def add_training_results(description: dict[str, Any], results: dict[str, Any]) -> None:
    """Add a run's steps, epochs, seconds, stop reason and metrics to ``description``.

    ``results`` is the run's ``results`` section; when it is empty (training never finished),
    ``description["training"]`` says so instead.
    """
    if results:
        description["training"].update(
            {
                "steps": results.get("step"),
                "epochs": results.get("epoch"),
                "seconds": results.get("train_seconds"),
                "stopped_by": results.get("stop_reason"),
            }
        )
        description["metrics"] = results.get("metrics", {})
    else:
        description["training"]["status"] = "not finished (no results yet)"
