"""Forecaster heads, teacher forcing, streaming one-step predictions and the Gaussian likelihood."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.models.forecaster import Forecast, Forecaster


@pytest.mark.parametrize("decoder", ["direct", "autoregressive"])
@pytest.mark.parametrize("likelihood", ["none", "gaussian"])
def test_forecast_shapes(decoder: str, likelihood: str) -> None:
    model = Forecaster(2, 3, horizon=4, hidden_size=8, decoder=decoder, likelihood=likelihood)
    forecast = model(torch.randn(5, 6, 2), torch.randn(5, 10, 3))
    assert forecast.mean.shape == (5, 4, 2)
    assert (forecast.scale is None) == (likelihood == "none")
    if forecast.scale is not None:
        assert forecast.scale.shape == (5, 4, 2) and bool((forecast.scale > 0).all())


def test_free_running_equals_teacher_forcing_fed_its_own_predictions() -> None:
    # When the "true" future is exactly what the model predicts, both paths see the same inputs.
    model = Forecaster(1, 2, horizon=5, hidden_size=8, decoder="autoregressive").eval()
    history, covariates = torch.randn(3, 7, 1), torch.randn(3, 12, 2)
    free = model(history, covariates)
    forced = model(history, covariates, future=free.mean)
    torch.testing.assert_close(forced.mean, free.mean, rtol=1e-5, atol=1e-5)


def test_one_step_in_pieces_equals_one_pass() -> None:
    model = Forecaster(2, 1, decoder="autoregressive", likelihood="gaussian", hidden_size=8).eval()
    inputs = torch.randn(1, 20, 3)
    whole, _ = model.one_step(inputs)
    state, means = None, []
    for piece in inputs.split([1, 7, 12], dim=1):
        forecast, state = model.one_step(piece, state)
        means.append(forecast.mean)
    torch.testing.assert_close(torch.cat(means, dim=1), whole.mean, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("decoder", ["direct", "autoregressive"])
def test_relative_forecasts_move_with_the_level(decoder: str) -> None:
    model = Forecaster(2, horizon=3, hidden_size=8, decoder=decoder, relative=True).eval()
    history, future = torch.randn(4, 6, 2), torch.randn(4, 3, 2)
    shift = torch.tensor([5.0, -2.0])
    torch.testing.assert_close(model(history + shift).mean, model(history).mean + shift)
    forced = model(history + shift, future=future + shift).mean
    torch.testing.assert_close(forced, model(history, future=future).mean + shift)


def test_gaussian_loss_matches_torch_gaussian_nll() -> None:
    model = Forecaster(1, likelihood="gaussian", hidden_size=4)
    mean, scale, target = torch.randn(4, 3, 1), torch.rand(4, 3, 1) + 0.1, torch.randn(4, 3, 1)
    expected = torch.nn.GaussianNLLLoss()(mean, target, scale**2)
    torch.testing.assert_close(model.loss(Forecast(mean, scale), target), expected)


def test_quantiles_of_the_normal() -> None:
    forecast = Forecast(torch.tensor([[[2.0]]]), torch.tensor([[[3.0]]]))
    quantiles = forecast.quantiles([0.158655254, 0.5, 0.841344746])  # -1, 0, +1 sigma
    torch.testing.assert_close(
        quantiles[0, 0, 0], torch.tensor([-1.0, 2.0, 5.0]), atol=1e-4, rtol=0
    )


def test_covariates_are_checked() -> None:
    model = Forecaster(1, 2, horizon=3, hidden_size=4)
    with pytest.raises(ValueError, match="covariates must be"):
        model(torch.randn(2, 5, 1), torch.randn(2, 5, 2))


# ------------------------------------------------------------------ window normalisation, residual


def test_window_statistics_are_the_windows_mean_and_spread() -> None:
    from rnnkit.models.forecaster import window_statistics

    history = torch.randn(4, 9, 2, dtype=torch.float64) * 3 + 5
    offset, spread = window_statistics(history, relative=False, normalise="window")
    array = history.numpy()
    np.testing.assert_allclose(offset.numpy()[:, 0], array.mean(axis=1))
    np.testing.assert_allclose(spread.numpy()[:, 0], array.std(axis=1) + 1e-2)
    offset, spread = window_statistics(history, relative=True, normalise="none")
    np.testing.assert_array_equal(offset.numpy()[:, 0], array[:, -1])
    assert bool((spread == 1).all())


def test_window_normalisation_makes_the_forecast_follow_shifts_and_scales() -> None:
    # The net reads (x - offset) / spread and its output is scaled back: forecasting a * x + b
    # gives a * forecast(x) + b (a > 0), up to the small constant added to the spread.
    torch.manual_seed(0)
    model = Forecaster(1, horizon=3, hidden_size=8, normalise="window", relative=True).double()
    history = torch.randn(2, 10, 1, dtype=torch.float64) * 50
    a, b = 40.0, -7.0
    scaled = model(a * history + b).mean
    plain = model(history).mean
    torch.testing.assert_close(scaled, a * plain + b, rtol=1e-3, atol=1e-3 * a)


@pytest.mark.parametrize("season", [1, 4])
def test_a_zero_network_forecasts_the_seasonal_naive_values(season: int) -> None:
    model = Forecaster(2, horizon=6, hidden_size=8, normalise="window", season=season)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    history = torch.randn(3, 10, 2)
    # oracle: step h repeats the value m steps before it, i.e. history[L - m + h mod m]
    expected = np.stack(
        [[history.numpy()[:, 10 - season + (h % season)] for h in range(6)]], axis=0
    )[0].transpose(1, 0, 2)
    np.testing.assert_allclose(model(history).mean.detach().numpy(), expected)


def test_the_seasonal_residual_needs_a_season_of_history_and_the_direct_head() -> None:
    model = Forecaster(1, horizon=2, hidden_size=4, season=12)
    with pytest.raises(ValueError, match="shorter than the season"):
        model(torch.randn(1, 8, 1))
    with pytest.raises(ValueError, match="direct"):
        Forecaster(1, horizon=2, season=12, decoder="autoregressive")


def test_an_ensemble_averages_its_members_and_their_losses() -> None:
    torch.manual_seed(0)
    model = Forecaster(1, horizon=3, hidden_size=8, members=3, likelihood="gaussian").double()
    history, future = torch.randn(4, 6, 1).double(), torch.randn(4, 3, 1).double()
    forecast = model(history)
    members = [member(history) for member in model.ensemble]
    means = torch.stack([m.mean for m in members])
    torch.testing.assert_close(forecast.mean, means.mean(dim=0))
    # the mixture's variance: mean of (scale^2 + mean^2) minus the squared mixture mean
    second = torch.stack([m.scale**2 + m.mean**2 for m in members]).mean(dim=0)
    torch.testing.assert_close(forecast.scale**2, second - forecast.mean**2)
    losses = [model.ensemble[k].loss(members[k], future) for k in range(3)]
    torch.testing.assert_close(model.loss(forecast, future), torch.stack(losses).mean())
    # members start from different weights
    assert not torch.equal(model.ensemble[0].head.weight, model.ensemble[1].head.weight)
