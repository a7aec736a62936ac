"""Multi-step forecasting with a recurrent encoder: a direct head or an autoregressive decoder.

Notation: ``n`` targets, ``C`` known-in-advance covariates, ``L`` lookback steps, ``H`` horizon.
Everything is in scaled units; the task scales and unscales.

- ``decoder="direct"``: the RNN reads ``(y_t, c_t)`` for the ``L`` history steps; its last output,
  with the ``H`` future covariate vectors, goes through one linear layer that emits all ``H``
  steps at once (the "multi-output" strategy).
- ``decoder="autoregressive"``: one RNN is a one-step-ahead model: at step ``t`` it reads
  ``(y_{t-1}, c_t)`` and predicts ``y_t``. Training feeds the true previous values (teacher
  forcing, one pass over ``L + H - 1`` steps); forecasting feeds its own predictions back. The same
  model scores a whole series one step ahead (``one_step``), which is what anomaly detection and
  its streaming mode use.

``relative=True`` forecasts the change from the last history value: that value is subtracted from
the history (and the teacher-forced future) and added back to the forecast, so the untrained model
starts near the naive forecast and a level never seen in training (a trend) needs no
extrapolation. The spread is unaffected.

``likelihood="gaussian"`` makes each prediction a normal distribution (mean and a softplus scale)
trained by negative log-likelihood; quantiles follow from the normal's inverse CDF. Otherwise the
prediction is a point trained by mean squared error.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import State
from rnnkit.layers import RNN
from rnnkit.models.config import ConfigFromAttributes, check_choice

DECODERS = ("direct", "autoregressive")
LIKELIHOODS = ("none", "gaussian")
_MIN_SCALE = 1e-4


@dataclass
class Forecast:
    """A prediction: ``mean (B, H, n)`` and, for a Gaussian head, ``scale (B, H, n)``."""

    mean: Tensor
    scale: Tensor | None = None

    def quantiles(self, levels: list[float]) -> Tensor:
        """``(B, H, n, Q)`` quantiles at ``levels`` (the mean for every level without a scale)."""
        q = torch.tensor(levels, dtype=self.mean.dtype, device=self.mean.device)
        if self.scale is None:
            return self.mean.unsqueeze(-1).expand(*self.mean.shape, len(levels))
        z = torch.distributions.Normal(0.0, 1.0).icdf(q)
        return self.mean.unsqueeze(-1) + self.scale.unsqueeze(-1) * z


class Forecaster(ConfigFromAttributes, nn.Module):
    """Forecast ``horizon`` steps of ``num_targets`` series from ``lookback`` past steps.

    Args:
        num_targets: ``n``, values predicted per step.
        num_covariates: ``C``, known-in-advance inputs per step (0 for none).
        horizon: ``H``, steps forecast at once.
        hidden_size, num_layers, cell, dropout: of the ``rnnkit.RNN``.
        decoder: ``"direct"`` or ``"autoregressive"`` (see the module docstring).
        likelihood: ``"none"`` (point forecasts, MSE) or ``"gaussian"`` (mean and scale, NLL).
        relative: forecast the change from the last history value (``forward`` only).
    """

    config_names = (
        "num_targets",
        "num_covariates",
        "horizon",
        "hidden_size",
        "num_layers",
        "cell",
        "dropout",
        "decoder",
        "likelihood",
        "relative",
    )

    def __init__(
        self,
        num_targets: int,
        num_covariates: int = 0,
        horizon: int = 1,
        hidden_size: int = 64,
        num_layers: int = 1,
        cell: str = "lstm",
        dropout: float = 0.0,
        decoder: str = "direct",
        likelihood: str = "none",
        relative: bool = False,
    ) -> None:
        super().__init__()
        check_choice("decoder", decoder, DECODERS)
        check_choice("likelihood", likelihood, LIKELIHOODS)
        if num_targets < 1 or horizon < 1 or num_covariates < 0:
            raise ValueError(
                f"need num_targets >= 1, horizon >= 1, num_covariates >= 0; got "
                f"{num_targets}, {horizon}, {num_covariates}"
            )
        self.num_targets, self.num_covariates, self.horizon = num_targets, num_covariates, horizon
        self.hidden_size, self.num_layers, self.cell = hidden_size, num_layers, cell
        self.dropout, self.decoder, self.likelihood = dropout, decoder, likelihood
        self.relative = relative
        self.outputs_per_value = 2 if likelihood == "gaussian" else 1
        self.rnn = RNN(
            cell, num_targets + num_covariates, hidden_size, num_layers=num_layers, dropout=dropout
        )
        if decoder == "direct":
            head_input = self.rnn.output_size + horizon * num_covariates
            self.head = nn.Linear(head_input, horizon * num_targets * self.outputs_per_value)
        else:
            self.head = nn.Linear(self.rnn.output_size, num_targets * self.outputs_per_value)

    # ------------------------------------------------------------------ forecasting

    def forward(
        self, history: Tensor, covariates: Tensor | None = None, future: Tensor | None = None
    ) -> Forecast:
        """Forecast the ``H`` steps after ``history``.

        Args:
            history: ``(B, L, n)`` past target values.
            covariates: ``(B, L + H, C)`` covariates of the history and forecast steps.
            future: ``(B, H, n)`` true future values; the autoregressive decoder then trains with
                teacher forcing (ignored by the direct head).
        Returns a ``Forecast`` with ``mean (B, H, n)``.
        """
        covariates = self._check(history, covariates)
        offset = history[:, -1:] if self.relative else torch.zeros_like(history[:, -1:])
        history = history - offset
        if self.decoder == "direct":
            forecast = self._direct(history, covariates)
        elif future is not None:
            forecast = self._teacher_forced(history, covariates, future - offset)
        else:
            forecast = self._free_running(history, covariates)
        return Forecast(forecast.mean + offset, forecast.scale)

    def _check(self, history: Tensor, covariates: Tensor | None) -> Tensor:
        if history.dim() != 3 or history.shape[-1] != self.num_targets:
            raise ValueError(f"history must be (B, L, {self.num_targets}), got {history.shape}")
        batch, lookback = history.shape[:2]
        expected = (batch, lookback + self.horizon, self.num_covariates)
        if covariates is None:
            if self.num_covariates:
                raise ValueError(f"this model needs covariates {expected}, got None")
            return history.new_zeros(expected)
        if tuple(covariates.shape) != expected:
            raise ValueError(f"covariates must be {expected}, got {tuple(covariates.shape)}")
        return covariates

    def _direct(self, history: Tensor, covariates: Tensor) -> Forecast:
        lookback = history.shape[1]
        inputs = torch.cat([history, covariates[:, :lookback]], dim=-1)
        output, _ = self.rnn(inputs)
        future_covariates = covariates[:, lookback:].flatten(1)
        raw = self.head(torch.cat([output[:, -1], future_covariates], dim=-1))
        return self._distribution(raw.view(history.shape[0], self.horizon, -1))

    def _teacher_forced(self, history: Tensor, covariates: Tensor, future: Tensor) -> Forecast:
        lookback = history.shape[1]
        values = torch.cat([history, future], dim=1)  # (B, L + H, n)
        inputs = torch.cat([values[:, :-1], covariates[:, 1:]], dim=-1)  # (y_{t-1}, c_t)
        output, _ = self.rnn(inputs)
        return self._distribution(self.head(output[:, lookback - 1 :]))

    def _free_running(self, history: Tensor, covariates: Tensor) -> Forecast:
        lookback = history.shape[1]
        inputs = torch.cat([history, covariates[:, 1 : lookback + 1]], dim=-1)
        output, state = self.rnn(inputs)
        step = self._distribution(self.head(output[:, -1:]))
        means, scales = [step.mean], [step.scale]
        for h in range(1, self.horizon):
            step_input = torch.cat([step.mean, covariates[:, lookback + h : lookback + h + 1]], -1)
            output, state = self.rnn(step_input, state)
            step = self._distribution(self.head(output))
            means.append(step.mean)
            scales.append(step.scale)
        scale = torch.cat(scales, dim=1) if self.likelihood == "gaussian" else None
        return Forecast(torch.cat(means, dim=1), scale)

    # ------------------------------------------------------------------ one step ahead

    def one_step(self, inputs: Tensor, state: State | None = None) -> tuple[Forecast, State]:
        """One-step-ahead predictions along a sequence, carrying the recurrent state.

        ``inputs (B, T, n + C)`` holds ``(y_{t-1}, c_t)`` at step ``t``; the result's ``mean``
        ``(B, T, n)`` predicts ``y_t``. Feeding a sequence in pieces with the returned state gives
        the same predictions as feeding it whole (streaming). Autoregressive models only.
        """
        if self.decoder != "autoregressive":
            raise ValueError("one_step needs decoder='autoregressive', got 'direct'")
        output, state = self.rnn(inputs, state)
        return self._distribution(self.head(output)), state

    # ------------------------------------------------------------------ likelihood

    def _distribution(self, raw: Tensor) -> Forecast:
        """``raw (B, T, n * k)`` -> mean (and scale) ``(B, T, n)``."""
        raw = raw.view(*raw.shape[:-1], self.num_targets, self.outputs_per_value)
        if self.likelihood == "gaussian":
            return Forecast(raw[..., 0], F.softplus(raw[..., 1]) + _MIN_SCALE)
        return Forecast(raw[..., 0])

    def loss(self, forecast: Forecast, target: Tensor) -> Tensor:
        """Mean Gaussian negative log-likelihood (without its constant), or mean squared error."""
        mean, target = forecast.mean.float(), target.float()
        if forecast.scale is None:
            return F.mse_loss(mean, target)
        scale = forecast.scale.float()
        return (torch.log(scale) + 0.5 * ((target - mean) / scale) ** 2).mean()
