"""The series models' graphs (forecast and detect runs), in the scaled units of the run's scaler.

A ``Forecaster`` exports ``forward`` (a window of history -> the forecast) and, when it decodes
autoregressively, ``one_step`` too (one-step-ahead predictions carrying the state, for a stream).
A ``SequenceAutoencoder`` (detect ``--method reconstruct``) exports ``forward``. The caller scales
inputs and unscales outputs with the scaler written beside the graph.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.export.graph import (
    Graph,
    initial_state,
    join_state,
    state_axes,
    state_inputs,
    state_outputs,
)
from rnnkit.layers.recurrent import as_tuple
from rnnkit.models import Forecaster, SequenceAutoencoder


def _with_scale(forecaster: Forecaster, mean: Tensor, scale: Tensor | None) -> tuple[Tensor, ...]:
    return (mean,) if forecaster.likelihood != "gaussian" else (mean, scale)


def _forecast_outputs(forecaster: Forecaster) -> tuple[str, ...]:
    return ("mean",) if forecaster.likelihood != "gaussian" else ("mean", "scale")


class ForecastWindow(nn.Module):
    """``history (B, L, n)`` [and ``covariates (B, L + H, C)``] -> ``mean (B, H, n)`` [and
    ``scale``]: ``Forecaster.forward``."""

    def __init__(self, model: Forecaster) -> None:
        super().__init__()
        self.model = model

    def forward(self, history: Tensor, *covariates: Tensor) -> tuple[Tensor, ...]:
        forecast = self.model(history, *covariates)
        return _with_scale(self.model, forecast.mean, forecast.scale)


class ForecastOneStep(nn.Module):
    """``inputs (B, T, n + C)`` holding ``(y_{t-1}, c_t)``, state -> ``mean (B, T, n)`` [and
    ``scale``], state: ``Forecaster.one_step``."""

    def __init__(self, model: Forecaster) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        forecast, new_state = self.model.one_step(inputs, join_state(state))
        return (*_with_scale(self.model, forecast.mean, forecast.scale), *as_tuple(new_state))


class Reconstruction(nn.Module):
    """``windows (B, W, F)`` -> reconstructed targets ``(B, W, n)``: the autoencoder's forward."""

    def __init__(self, model: SequenceAutoencoder) -> None:
        super().__init__()
        self.model = model

    def forward(self, windows: Tensor) -> tuple[Tensor]:
        return (self.model(windows),)


def forecaster_graphs(model: Forecaster, batch: int = 2, steps: int = 7) -> list[Graph]:
    """``model`` (a window to a forecast), and ``one_step`` for an autoregressive decoder (not
    an ensemble's). The example history holds at least a season for the seasonal residual; a
    model with a linear part reads exactly its ``lookback`` steps (a fixed time axis)."""
    steps = model.lookback if model.linear else max(steps, model.season + 1)
    inputs = {"history": torch.randn(batch, steps, model.num_targets)}
    time: dict[int, str] = {} if model.linear else {1: "time"}
    axes = {"history": {0: "batch", **time}}
    if model.num_covariates:
        horizon = model.horizon
        inputs["covariates"] = torch.randn(batch, steps + horizon, model.num_covariates)
        axes["covariates"] = {0: "batch", **({} if model.linear else {1: f"time+{horizon}"})}
    graphs = [
        Graph(
            name="model",
            module=ForecastWindow(model),
            inputs=inputs,
            outputs=_forecast_outputs(model),
            axes=axes,
            summary="history (B, L, n) [covariates (B, L + H, C)] -> forecast (B, H, n)",
        )
    ]
    if model.decoder == "autoregressive" and model.members == 1:
        state = initial_state(model.rnn, batch)
        features = model.num_targets + model.num_covariates
        graphs.append(
            Graph(
                name="one_step",
                module=ForecastOneStep(model),
                inputs={"inputs": torch.randn(batch, steps, features), **state_inputs(state)},
                outputs=(*_forecast_outputs(model), *state_outputs(state)),
                axes={"inputs": {0: "batch", 1: "time"}, **state_axes(state)},
                summary="(y_{t-1}, c_t) (B, T, n + C) and the state -> predictions of y_t "
                "(B, T, n) and the state",
            )
        )
    return graphs


def autoencoder_graphs(model: SequenceAutoencoder, batch: int = 2, steps: int = 7) -> list[Graph]:
    """The one graph of a detect run that scores by reconstruction."""
    return [
        Graph(
            name="model",
            module=Reconstruction(model),
            inputs={"windows": torch.randn(batch, steps, model.num_features)},
            outputs=("reconstruction",),
            axes={"windows": {0: "batch", 1: "time"}},
            summary="windows (B, W, F) -> reconstructed targets (B, W, n)",
        )
    ]
