"""The target transforms invert exactly (NumPy arithmetic written out here as the oracle)."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.data import transforms


def _series() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.exp(rng.standard_normal((30, 2)).cumsum(axis=0) * 0.1) * 50.0  # positive (T, n)


def test_log_and_diff_forward_are_the_textbook_maps() -> None:
    y = _series()
    np.testing.assert_allclose(transforms.forward("log", y), np.log(y))
    diff = transforms.forward("diff", y)
    assert np.all(diff[0] == 0.0)
    np.testing.assert_allclose(diff[1:], y[1:] - y[:-1])
    np.testing.assert_array_equal(transforms.forward("none", y), y)


@pytest.mark.parametrize("name", ["none", "log", "diff"])
def test_inverse_recovers_the_values_after_any_origin(name: str) -> None:
    y = _series()
    z = transforms.forward(name, y)
    for origin in (1, 7, 20):
        future = z[origin : origin + 6]  # (H, n) in transformed units
        back = transforms.inverse(name, future, y[origin - 1])
        np.testing.assert_allclose(back, y[origin : origin + 6], rtol=1e-12)


def test_inverse_works_on_batches_of_forecasts() -> None:
    y = _series()
    z = transforms.forward("diff", y)
    origins = np.array([3, 9, 15])
    batch = np.stack([z[o : o + 4] for o in origins])  # (N, H, n)
    back = transforms.inverse("diff", batch, y[origins - 1])
    np.testing.assert_allclose(back, np.stack([y[o : o + 4] for o in origins]))


def test_log_needs_positive_values() -> None:
    assert not transforms.applicable("log", np.array([[1.0], [0.0]]))
    assert transforms.applicable("diff", np.array([[1.0], [0.0]]))
    with pytest.raises(ValueError):
        transforms.forward("log", np.array([[1.0], [-2.0]]))
    with pytest.raises(ValueError):
        transforms.forward("sqrt", np.ones((3, 1)))
