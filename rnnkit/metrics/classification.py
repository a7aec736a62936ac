"""Classification and tagging metrics: confusion matrix, accuracy, precision/recall/F1, and
entity-level scores for BIO tags.

Conventions (those of scikit-learn and conlleval): a class never predicted has precision 0, a
class never present has recall 0, and F1 is 0 when precision and recall are both 0. Macro-F1 is
the unweighted mean of the per-class F1 over the classes present in the truth or the predictions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion_matrix(
    truth: Sequence[int], predicted: Sequence[int], num_classes: int
) -> np.ndarray:
    """``(K, K)`` counts: row = true class, column = predicted class."""
    truth, predicted = np.asarray(truth, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    if truth.shape != predicted.shape:
        raise ValueError(
            f"truth and predictions must have the same shape, got {truth.shape} and "
            f"{predicted.shape}"
        )
    for name, values in (("truth", truth), ("predictions", predicted)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"{name} must be class ids in 0..{num_classes - 1}")
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else 0.0


def _f1(precision: float, recall: float) -> float:
    return _ratio(2 * precision * recall, precision + recall)


def classification_metrics(
    truth: Sequence[int], predicted: Sequence[int], class_names: Sequence[str]
) -> dict[str, float]:
    """``accuracy``, ``macro_f1`` and per class ``precision/<name>``, ``recall/<name>``,
    ``f1/<name>`` and ``support/<name>`` (true examples of the class)."""
    matrix = confusion_matrix(truth, predicted, len(class_names))
    true_positive = np.diag(matrix).astype(float)
    predicted_count = matrix.sum(axis=0)
    true_count = matrix.sum(axis=1)
    metrics = {"accuracy": _ratio(true_positive.sum(), matrix.sum())}
    f1_scores = []
    per_class: dict[str, float] = {}
    for k, name in enumerate(class_names):
        precision = _ratio(true_positive[k], predicted_count[k])
        recall = _ratio(true_positive[k], true_count[k])
        f1 = _f1(precision, recall)
        if true_count[k] or predicted_count[k]:
            f1_scores.append(f1)
        per_class[f"precision/{name}"] = precision
        per_class[f"recall/{name}"] = recall
        per_class[f"f1/{name}"] = f1
        per_class[f"support/{name}"] = float(true_count[k])
    metrics["macro_f1"] = float(np.mean(f1_scores)) if f1_scores else 0.0
    metrics.update(per_class)
    return metrics


# ------------------------------------------------------------------------------- BIO entities


def is_bio(tags: Sequence[str]) -> bool:
    """Whether a tag set follows the BIO (IOB2) scheme: ``O``, ``B-TYPE``, ``I-TYPE`` only."""
    tags = set(tags)
    return bool(tags) and all(t == "O" or t[:2] in ("B-", "I-") for t in tags) and tags != {"O"}


def bio_entities(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """The entities of one tag sequence as ``(type, start, end)`` with ``end`` exclusive.

    As in conlleval, an ``I-X`` that does not continue an entity of type X starts a new one, so
    ill-formed predictions still count as (usually wrong) entities.
    """
    entities: set[tuple[str, int, int]] = set()
    kind: str | None = None
    start = 0
    for position, tag in enumerate([*tags, "O"]):
        prefix, _, tag_type = tag.partition("-")
        continues = prefix == "I" and tag_type == kind
        if kind is not None and not continues:
            entities.add((kind, start, position))
            kind = None
        if prefix == "B" or (prefix == "I" and not continues):
            kind, start = tag_type, position
    return entities


def entity_metrics(
    truth: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]
) -> dict[str, float]:
    """Entity-level ``precision``, ``recall`` and ``f1`` (micro-averaged over entities): an
    entity counts as found only when its type and both boundaries match exactly."""
    if len(truth) != len(predicted):
        raise ValueError(
            f"truth and predictions must hold the same number of sentences, got {len(truth)} "
            f"and {len(predicted)}"
        )
    found = gold = correct = 0
    for true_tags, predicted_tags in zip(truth, predicted, strict=True):
        if len(true_tags) != len(predicted_tags):
            raise ValueError(
                f"each sentence needs one prediction per tag, got {len(predicted_tags)} for "
                f"{len(true_tags)}"
            )
        true_entities, predicted_entities = bio_entities(true_tags), bio_entities(predicted_tags)
        gold += len(true_entities)
        found += len(predicted_entities)
        correct += len(true_entities & predicted_entities)
    precision, recall = _ratio(correct, found), _ratio(correct, gold)
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall)}
