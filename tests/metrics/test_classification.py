"""Classification metrics against scikit-learn, and BIO entity scores against hand counts."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.metrics.classification import (
    bio_entities,
    classification_metrics,
    confusion_matrix,
    entity_metrics,
    is_bio,
)


def test_against_scikit_learn_including_a_class_never_predicted():
    metrics_module = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 4, 300)
    predicted = np.where(rng.random(300) < 0.6, truth, rng.integers(0, 3, 300))  # never 3
    names = ["a", "b", "c", "d"]
    ours = classification_metrics(truth, predicted, names)
    assert np.array_equal(
        confusion_matrix(truth, predicted, 4),
        metrics_module.confusion_matrix(truth, predicted, labels=range(4)),
    )
    assert ours["accuracy"] == pytest.approx(metrics_module.accuracy_score(truth, predicted))
    assert ours["macro_f1"] == pytest.approx(
        metrics_module.f1_score(truth, predicted, average="macro", zero_division=0)
    )
    precision = metrics_module.precision_score(truth, predicted, average=None, zero_division=0)
    recall = metrics_module.recall_score(truth, predicted, average=None, zero_division=0)
    for k, name in enumerate(names):
        assert ours[f"precision/{name}"] == pytest.approx(precision[k])
        assert ours[f"recall/{name}"] == pytest.approx(recall[k])
        assert ours[f"support/{name}"] == np.sum(truth == k)


def test_hand_counted_binary_example():
    # truth 1 1 1 0 0, predicted 1 0 1 1 0: class 1 tp 2 fp 1 fn 1; class 0 tp 1 fp 1 fn 1
    metrics = classification_metrics([1, 1, 1, 0, 0], [1, 0, 1, 1, 0], ["no", "yes"])
    assert metrics["accuracy"] == pytest.approx(3 / 5)
    assert metrics["precision/yes"] == pytest.approx(2 / 3)
    assert metrics["recall/no"] == pytest.approx(1 / 2)
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 1 / 2) / 2)


def test_bio_entities_follow_conlleval():
    tags = ["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "B-LOC", "I-PER"]
    assert bio_entities(tags) == {
        ("PER", 0, 2),
        ("LOC", 3, 5),  # an I- without B- starts an entity
        ("LOC", 5, 6),
        ("LOC", 6, 7),
        ("PER", 7, 8),  # I-PER after LOC starts a new one
    }


def test_entity_metrics_hand_counted():
    truth = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    predicted = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "B-ORG"]]
    # gold 3 entities; found 4: (PER 0-1) wrong boundary, LOC right, ORG right, extra ORG
    metrics = entity_metrics(truth, predicted)
    assert metrics["precision"] == pytest.approx(2 / 4)
    assert metrics["recall"] == pytest.approx(2 / 3)
    assert metrics["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))


def test_is_bio():
    assert is_bio(["O", "B-PER", "I-PER"])
    assert not is_bio(["NOUN", "VERB"])
    assert not is_bio(["O"])
