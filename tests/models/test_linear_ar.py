"""The forecaster's linear autoregression against least squares computed with NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ridge_oracle import numpy_ridge

from rnnkit.models.forecaster import Forecaster
from rnnkit.models.linear_ar import combined_ridge, design, predict, ridge


@pytest.mark.parametrize("penalty", [0.0, 3.0])
def test_ridge_equals_augmented_least_squares(penalty: float) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 6)), rng.normal(size=(40, 3))
    weight, bias = ridge(torch.from_numpy(x), torch.from_numpy(y), penalty)
    expected_w, expected_b = numpy_ridge(x, y, penalty)
    np.testing.assert_allclose(weight.numpy(), expected_w, atol=1e-9)
    np.testing.assert_allclose(bias.numpy(), expected_b, atol=1e-9)


def test_ridge_is_the_same_to_the_last_bit_on_any_thread_count_and_call() -> None:
    # a killed run's first process and the process resuming it must fit the same weights; a
    # window read relative to its last value has an all-zero last column, as here
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3000, 25, generator=g, dtype=torch.float64)
    x[:, -1] = 0.0
    y = torch.randn(3000, 6, generator=g, dtype=torch.float64)
    threads = torch.get_num_threads()
    fits = []
    try:
        for count in (1, 2, 1, 2):
            torch.set_num_threads(count)
            fits.append(ridge(x, y, 30.0))
    finally:
        torch.set_num_threads(threads)
    for weight, bias in fits[1:]:
        assert torch.equal(weight, fits[0][0]) and torch.equal(bias, fits[0][1])
    assert torch.get_num_threads() == threads


def test_combined_ridge_averages_the_fits_and_so_their_forecasts() -> None:
    # the oracle: each penalty's fit by augmented least squares (penalty per row times the rows),
    # averaged; a forecast of the averaged fit is the average of the single fits' forecasts
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(30, 5)), rng.normal(size=(30, 2))
    factors = (0.01, 1.0, 10.0)
    fits = [numpy_ridge(x, y, factor * 30) for factor in factors]
    weight, bias = combined_ridge(torch.from_numpy(x), torch.from_numpy(y), factors)
    np.testing.assert_allclose(weight.numpy(), np.mean([w for w, _ in fits], axis=0), atol=1e-9)
    np.testing.assert_allclose(bias.numpy(), np.mean([b for _, b in fits], axis=0), atol=1e-9)

    # 3 windows of 2 targets (6 rows of x), base and spread per window and target
    x_new = rng.normal(size=(6, 5))
    base, spread = rng.normal(size=(3, 2, 2)), rng.uniform(1, 2, size=(3, 1, 2))
    got = predict(
        torch.from_numpy(x_new), torch.from_numpy(base), torch.from_numpy(spread), weight, bias
    ).numpy()
    singles = [
        base + spread * (x_new @ w.T + b).reshape(3, 2, 2).transpose(0, 2, 1) for w, b in fits
    ]
    np.testing.assert_allclose(got, np.mean(singles, axis=0), atol=1e-9)
    with pytest.raises(ValueError, match="penalty"):
        combined_ridge(torch.from_numpy(x), torch.from_numpy(y), ())


def seasonal_windows(count: int, lookback: int, horizon: int, targets: int, seed: int):
    rng = np.random.default_rng(seed)
    t = np.arange(count + lookback + horizon)[:, None]
    series = 10 + 0.05 * t + np.sin(2 * np.pi * t / 6) * np.arange(1, targets + 1)
    series = series + 0.3 * rng.normal(size=series.shape)
    starts = range(count)
    history = np.stack([series[s : s + lookback] for s in starts])
    future = np.stack([series[s + lookback : s + lookback + horizon] for s in starts])
    return history, future


def test_forecaster_with_its_network_zeroed_is_the_least_squares_fit() -> None:
    # the oracle: windows normalised by hand (last value, standard deviation + 0.01), the
    # seasonal-naive residual as target, every (window, target) a row, np.linalg.lstsq (a small
    # ridge: the last history value normalises to 0, so plain least squares has no unique fit)
    lookback, horizon, season = 12, 4, 6
    history, future = seasonal_windows(50, lookback, horizon, targets=2, seed=1)
    last = history[:, -1:]
    spread = history.std(axis=1, keepdims=True) + 1e-2
    base = np.concatenate([history[:, -season:]] * 2, axis=1)[:, :horizon]
    x = ((history - last) / spread).transpose(0, 2, 1).reshape(-1, lookback)
    y = ((future - base) / spread).transpose(0, 2, 1).reshape(-1, horizon)
    expected_w, expected_b = numpy_ridge(x, y, 0.5)

    model = Forecaster(
        2,
        horizon=horizon,
        hidden_size=5,
        relative=True,
        normalise="window",
        season=season,
        lookback=lookback,
        linear=True,
    ).double()
    weight, bias = ridge(
        *design(torch.from_numpy(history), torch.from_numpy(future), season, True, "window")[:2],
        0.5,
    )
    model.set_linear(weight, bias)
    new_history, _ = seasonal_windows(7, lookback, horizon, targets=2, seed=2)
    got = model.eval()(torch.from_numpy(new_history)).mean.detach().numpy()
    new_last = new_history[:, -1:]
    new_spread = new_history.std(axis=1, keepdims=True) + 1e-2
    new_base = np.concatenate([new_history[:, -season:]] * 2, axis=1)[:, :horizon]
    normalised = (new_history - new_last) / new_spread  # (N, L, n)
    linear = np.einsum("nlj,hl->nhj", normalised, expected_w) + expected_b[None, :, None]
    np.testing.assert_allclose(got, new_base + new_spread * linear, rtol=1e-7, atol=1e-7)


def test_net_weight_zero_leaves_the_linear_forecast_and_one_adds_the_network() -> None:
    model = Forecaster(1, horizon=3, hidden_size=4, lookback=8, linear=True, members=2).double()
    history = torch.randn(5, 8, 1, dtype=torch.float64)
    linear_only = model(history).mean
    with torch.no_grad():
        for member in model.ensemble:
            member.head.bias.fill_(0.5)  # the network now adds 0.5 (window units: spread 1)
    torch.testing.assert_close(model(history).mean, linear_only + 0.5)
    model.set_net_weight(0.0)
    torch.testing.assert_close(model(history).mean, linear_only)


def test_linear_needs_the_direct_decoder_and_a_lookback() -> None:
    with pytest.raises(ValueError, match="linear"):
        Forecaster(1, horizon=2, linear=True)
    with pytest.raises(ValueError, match="linear"):
        Forecaster(1, horizon=2, lookback=4, linear=True, decoder="autoregressive")
