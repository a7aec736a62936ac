"""Forecaster heads, teacher forcing, streaming one-step predictions and the Gaussian likelihood."""

from __future__ import annotations

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
