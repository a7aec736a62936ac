"""Precision, recall and F1 of anomaly flags against labels, point by point and event by event.

Point-wise, every time step is one decision. Event-wise, an *event* is a maximal run of
consecutive labelled steps, and a *detection* a maximal run of consecutive flagged steps: recall is
the share of events touched by at least one flag, precision the share of detections that touch at
least one event (a detection overlapping an event counts once, however long it is). F1 is their
harmonic mean; each is 0 when undefined (no flags, no events).
"""

from __future__ import annotations

import numpy as np


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` of every maximal run of True in a 1-D mask."""
    mask = np.asarray(mask, dtype=bool)
    padded = np.concatenate([[False], mask, [False]])
    changes = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b)) for a, b in zip(changes[::2], changes[1::2], strict=True)]


def _f1(precision: float, recall: float) -> float:
    total = precision + recall
    return 2 * precision * recall / total if total > 0 else 0.0


def point_scores(labels: np.ndarray, flags: np.ndarray) -> dict[str, float]:
    """Point-wise precision, recall and F1."""
    labels, flags = _check(labels, flags)
    hits = int((labels & flags).sum())
    precision = hits / int(flags.sum()) if flags.any() else 0.0
    recall = hits / int(labels.sum()) if labels.any() else 0.0
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall)}


def event_scores(labels: np.ndarray, flags: np.ndarray) -> dict[str, float]:
    """Event-wise precision, recall and F1, and the counts of events and detections."""
    labels, flags = _check(labels, flags)
    events, detections = runs(labels), runs(flags)
    found = sum(1 for a, b in events if flags[a:b].any())
    true_detections = sum(1 for a, b in detections if labels[a:b].any())
    precision = true_detections / len(detections) if detections else 0.0
    recall = found / len(events) if events else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": _f1(precision, recall),
        "events": len(events),
        "detections": len(detections),
    }


def label_metrics(labels: np.ndarray, flags: np.ndarray) -> dict[str, float]:
    """Both kinds in one flat dict: ``point_precision``, ``point_recall``, ``point_f1``,
    ``event_precision``, ``event_recall``, ``event_f1``, and the numbers of labelled ``events``
    and flagged ``detections``."""
    metrics: dict[str, float] = {}
    for key, value in point_scores(labels, flags).items():
        metrics[f"point_{key}"] = value
    for key, value in event_scores(labels, flags).items():
        metrics[key if key in ("events", "detections") else f"event_{key}"] = value
    return metrics


def _check(labels: np.ndarray, flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels).astype(bool)
    flags = np.asarray(flags).astype(bool)
    if labels.shape != flags.shape or labels.ndim != 1:
        raise ValueError(
            f"labels and flags must be equal 1-D shapes, got {labels.shape}, {flags.shape}"
        )
    return labels, flags
