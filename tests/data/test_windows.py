"""Spans, the scaler and the windows of a series table, against a hand-built table."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.data.series import SINGLE_SERIES, Series, SeriesColumns, SeriesTable
from rnnkit.data.windows import TEST, TRAIN, VALIDATION, Spans, fit_scaler, make_windows


def counting_table(rows: int = 20) -> SeriesTable:
    """One series: target ``t`` and covariate ``-t`` at row ``t``."""
    t = np.arange(rows, dtype=np.float64)[:, None]
    series = Series(SINGLE_SERIES, values=t, covariates=-t)
    return SeriesTable([series], SeriesColumns(["y"], covariates=["c"]), ["y", "c"], ["c"])


def test_the_scaler_sees_only_the_training_rows() -> None:
    table = counting_table()
    spans = Spans.of(table, "0.5,0.25,0.25")
    assert spans.ends == {SINGLE_SERIES: (10, 15, 20)}
    scaler = fit_scaler(table, spans)
    assert scaler.mean[SINGLE_SERIES] == pytest.approx([4.5, -4.5])  # rows 0..9
    assert scaler.std[SINGLE_SERIES] == pytest.approx([np.std(np.arange(10))] * 2)


def test_windows_have_their_targets_in_one_span() -> None:
    table = counting_table()
    spans = Spans.of(table, "0.5,0.25,0.25")
    scaler = fit_scaler(table, spans)
    mean, std = 4.5, np.std(np.arange(10))
    for span, (first, last) in {TRAIN: (0, 10), VALIDATION: (10, 15), TEST: (15, 20)}.items():
        windows = make_windows(table, scaler, 3, 2, span, spans)
        targets = windows.future.numpy()[..., 0] * std + mean  # back to row numbers
        # the first target follows a full history of 3 rows, which may lie in the span before
        first_target = max(first, 3)
        assert targets.min() == pytest.approx(first_target)
        assert targets.max() == pytest.approx(last - 1)
        assert list(windows.origins) == list(range(first_target, last - 2 + 1))
        assert windows.history.shape == (len(windows), 3, 1)
        assert windows.covariates.shape == (len(windows), 5, 1)
        history = windows.history.numpy()[:, :, 0] * std + mean
        np.testing.assert_allclose(history[:, -1], windows.origins - 1, atol=1e-5)
