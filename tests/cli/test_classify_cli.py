"""``rnnkit train classify`` and ``rnnkit predict``: what the commands refuse, in one sentence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import assert_user_error, rnnkit

TINY_CLASSIFY = [
    "--hidden", "4", "--embedding-size", "4", "--batch-size", "4", "--max-steps", "2",
    "--progress", "off", "--precision", "fp32", "--device", "cpu",
]  # fmt: skip


def reviews(path, labels=("pos", "neg")):
    rows = [(f"a {label} film", label) for label in labels] * 6
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def classify_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("classify")
    data = reviews(folder / "reviews.csv")
    out = folder / "run"
    result = rnnkit("train", "classify", "--data", data, "--out", out, *TINY_CLASSIFY)
    assert result.exit_code == 0, (result.output, result.exception)
    return out, data


def test_predict_refuses_a_run_of_another_task(tiny_run):
    assert_user_error(
        rnnkit("predict", tiny_run, "--text", "abc"), "task 'lm'", "classify and tag runs"
    )


def test_predict_needs_exactly_one_of_text_and_data(classify_run):
    run, data = classify_run
    assert_user_error(rnnkit("predict", run), "either --text")
    assert_user_error(rnnkit("predict", run, "--text", "a", "--data", data), "either --text")


def test_predict_explain_applies_to_texts_only(classify_run):
    run, data = classify_run
    assert_user_error(rnnkit("predict", run, "--data", data, "--explain"), "--explain")


def test_resume_on_data_of_other_classes_is_refused(classify_run, tmp_path):
    run, _ = classify_run
    other = reviews(tmp_path / "other.csv", labels=("good", "bad", "meh"))
    result = rnnkit("train", "classify", "--data", other, "--out", run, "--resume", *TINY_CLASSIFY)
    assert_user_error(result, "other.csv", "the labels", "same classes")


def test_resume_on_numeric_data_of_a_text_run_is_refused(classify_run, tmp_path):
    run, _ = classify_run
    sequences = tmp_path / "sequences.npz"
    np.savez(sequences, x=np.zeros((4, 3, 2), np.float32), y=np.array([0, 1, 0, 1]))
    result = rnnkit(
        "train", "classify", "--data", sequences, "--out", run, "--resume", *TINY_CLASSIFY
    )
    assert_user_error(result, "sequences.npz holds numeric data", "text data")
