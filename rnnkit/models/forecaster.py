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

Three ways to make a window's forecast independent of the series' level and scale, composable:

- ``relative=True`` forecasts the change from the last history value: that value is subtracted from
  the history (and the teacher-forced future) and added back to the forecast, so the untrained model
  starts near the naive forecast and a level never seen in training (a trend) needs no
  extrapolation.
- ``normalise="window"`` (RevIN-style, Kim et al. 2022, without the affine parameters) divides each
  window by its own spread ``s = std(history) + eps`` (and centres it on its mean when not
  ``relative``), and multiplies the network's output (mean and spread) by ``s``.
- ``season=m >= 1`` (direct decoder) makes the network learn the residual over the seasonal-naive
  forecast of the history, ``y_hat[h] = history[L - m + (h mod m)] + s * net[h]``: a network
  whose head outputs zero forecasts exactly the seasonal-naive values (``m = 1``: the naive ones).

``linear=True`` (direct decoder; needs ``lookback``) adds a linear autoregression to the
network's output, LSTNet's "highway" (Lai et al. 2018): every target's normalised history
``x (L,)`` gives ``W x + b`` (``W (H, L)``, ``b (H,)`` shared by the targets), in the same units
as the network's head, so ``y_hat = offset + s * (W x + b + net_weight * net)``. ``W`` and ``b``
are buffers, not parameters: the task fits them in closed form (ridge regression,
``rnnkit.models.linear_ar``) before training, so on a short series the linear part does an
ARIMA's job exactly and the network, whose head starts at zero, learns what it leaves.
``net_weight`` (a buffer, 1 by default) shrinks the network's part towards the linear forecast;
the task chooses it on the validation windows.

``members=K > 1`` is a seed ensemble: ``K`` independent forecasters (each its own initial weights)
trained side by side on the same batches (the loss is the mean of their losses, so each member's
gradient is its own), forecasting their average (for a Gaussian head, the moments of the equal
mixture).

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
NORMALISATIONS = ("none", "window")
_MIN_SCALE = 1e-4
#: added to a window's standard deviation, in the scaler's units (a flat window divides by this)
_WINDOW_EPS = 1e-2


@dataclass
class Forecast:
    """A prediction: ``mean (B, H, n)`` and, for a Gaussian head, ``scale (B, H, n)``.

    An ensemble's forecast also keeps each member's: ``members`` (a list of ``K`` Forecasts), which
    its loss averages over.
    """

    mean: Tensor
    scale: Tensor | None = None
    members: list[Forecast] | None = None

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
        normalise: ``"window"`` divides each window by its own spread (``forward`` only).
        season: ``m >= 1``: learn the residual over the seasonal-naive forecast of period ``m``
            (direct decoder; the history must hold ``m`` steps); ``0``: no baseline.
        members: ``K`` forecasters averaged (a seed ensemble); ``one_step`` needs ``K = 1``.
        lookback: ``L``, history steps of every window (needed by ``linear``; 0: any length).
        linear: add the linear autoregression over the normalised history (direct decoder).
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
        "normalise",
        "season",
        "members",
        "lookback",
        "linear",
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
        normalise: str = "none",
        season: int = 0,
        members: int = 1,
        lookback: int = 0,
        linear: bool = False,
    ) -> None:
        super().__init__()
        check_choice("decoder", decoder, DECODERS)
        check_choice("likelihood", likelihood, LIKELIHOODS)
        check_choice("normalise", normalise, NORMALISATIONS)
        if num_targets < 1 or horizon < 1 or num_covariates < 0 or season < 0 or members < 1:
            raise ValueError(
                f"need num_targets >= 1, horizon >= 1, num_covariates >= 0, season >= 0, "
                f"members >= 1; got {num_targets}, {horizon}, {num_covariates}, {season}, "
                f"{members}"
            )
        if season and decoder != "direct":
            raise ValueError("season (the seasonal-naive residual) needs decoder='direct'")
        if linear and (decoder != "direct" or lookback < 1):
            raise ValueError("linear needs decoder='direct' and lookback >= 1")
        self.num_targets, self.num_covariates, self.horizon = num_targets, num_covariates, horizon
        self.hidden_size, self.num_layers, self.cell = hidden_size, num_layers, cell
        self.dropout, self.decoder, self.likelihood = dropout, decoder, likelihood
        self.relative, self.normalise, self.season, self.members = (
            relative,
            normalise,
            season,
            members,
        )
        self.lookback, self.linear = lookback, linear
        self.outputs_per_value = 2 if likelihood == "gaussian" else 1
        if members > 1:
            single = {name: getattr(self, name) for name in self.config_names}
            self.ensemble = nn.ModuleList(
                Forecaster(**{**single, "members": 1}) for _ in range(members)
            )
            return
        self.rnn = RNN(
            cell, num_targets + num_covariates, hidden_size, num_layers=num_layers, dropout=dropout
        )
        if decoder == "direct":
            head_input = self.rnn.output_size + horizon * num_covariates
            self.head = nn.Linear(head_input, horizon * num_targets * self.outputs_per_value)
            if linear:
                # the network starts as no correction of the linear forecast
                nn.init.zeros_(self.head.weight)
                nn.init.zeros_(self.head.bias)
                self.register_buffer("linear_weight", torch.zeros(horizon, lookback))
                self.register_buffer("linear_bias", torch.zeros(horizon))
                self.register_buffer("net_weight", torch.ones(()))
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
        if self.members > 1:
            return average([member(history, covariates, future) for member in self.ensemble])
        offset, spread = window_statistics(history, self.relative, self.normalise)
        inputs = (history - offset) / spread
        if self.decoder == "direct":
            forecast = self._direct(inputs, covariates)
            if self.linear:
                mean = self.linear_part(inputs) + self.net_weight * forecast.mean
                forecast = Forecast(mean, forecast.scale)
        elif future is not None:
            forecast = self._teacher_forced(inputs, covariates, (future - offset) / spread)
        else:
            forecast = self._free_running(inputs, covariates)
        if self.season:
            # the network's output is the residual over the seasonal-naive forecast
            offset = seasonal_naive(history, self.horizon, self.season)
        scale = None if forecast.scale is None else forecast.scale * spread
        return Forecast(offset + forecast.mean * spread, scale)

    def linear_part(self, inputs: Tensor) -> Tensor:
        """The linear autoregression ``(B, H, n)`` of normalised histories ``inputs (B, L, n)``."""
        return (inputs.transpose(1, 2) @ self.linear_weight.T + self.linear_bias).transpose(1, 2)

    def set_linear(self, weight: Tensor, bias: Tensor) -> None:
        """Set the linear autoregression ``weight (H, L)``, ``bias (H,)`` (every member's)."""
        for member in self.members_list():
            member.linear_weight.copy_(weight)
            member.linear_bias.copy_(bias)

    def set_net_weight(self, value: float) -> None:
        """Shrink every member's network part by ``value`` (1: as trained, 0: linear only)."""
        for member in self.members_list():
            member.net_weight.fill_(value)

    def members_list(self) -> list[Forecaster]:
        """The single forecasters: the ensemble's members, or ``[self]``."""
        return list(self.ensemble) if self.members > 1 else [self]

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
        if self.members > 1:
            raise ValueError("one_step needs a single forecaster (members=1)")
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
        """Mean Gaussian negative log-likelihood (without its constant), or mean squared error;
        an ensemble's is the mean of its members' losses."""
        if forecast.members is not None:
            return torch.stack([self.loss(member, target) for member in forecast.members]).mean()
        mean, target = forecast.mean.float(), target.float()
        if forecast.scale is None:
            return F.mse_loss(mean, target)
        scale = forecast.scale.float()
        return (torch.log(scale) + 0.5 * ((target - mean) / scale) ** 2).mean()


# ---------------------------------------------------------------------- window arithmetic


def window_statistics(history: Tensor, relative: bool, normalise: str) -> tuple[Tensor, Tensor]:
    """The offset and spread ``(B, 1, n)`` a window ``history (B, L, n)`` is normalised by.

    The offset is the last value (``relative``), else the window's mean (``normalise="window"``),
    else 0; the spread is the window's standard deviation plus a small constant
    (``normalise="window"``), else 1. The model reads ``(history - offset) / spread``.
    """
    last = history[:, -1:]
    if relative:
        offset = last
    elif normalise == "window":
        offset = history.mean(dim=1, keepdim=True)
    else:
        offset = torch.zeros_like(last)
    if normalise == "window":
        spread = history.std(dim=1, keepdim=True, unbiased=False) + _WINDOW_EPS
    else:
        spread = torch.ones_like(last)
    return offset, spread


def seasonal_naive(history: Tensor, horizon: int, season: int) -> Tensor:
    """The seasonal-naive forecast ``(B, H, n)`` of ``history (B, L, n)``: step ``h`` repeats
    ``history[L - m + (h mod m)]`` (``m = 1``: the last value)."""
    lookback = history.shape[1]
    if not torch.compiler.is_exporting() and lookback < season:
        raise ValueError(f"the history ({lookback} steps) is shorter than the season {season}")
    last_season = history[:, -season:]  # (B, m, n)
    return last_season.repeat(1, -(-horizon // season), 1)[:, :horizon]


def average(forecasts: list[Forecast]) -> Forecast:
    """The equal mixture of members' forecasts: the mean of their means and, for Gaussian heads,
    the mixture's standard deviation ``sqrt(mean(scale^2 + mean^2) - mixture_mean^2)``."""
    means = torch.stack([f.mean for f in forecasts])  # (K, B, H, n)
    mean = means.mean(dim=0)
    scale = None
    if forecasts[0].scale is not None:
        scales = torch.stack([f.scale for f in forecasts])
        second = (scales**2 + means**2).mean(dim=0)
        scale = torch.sqrt(torch.clamp(second - mean**2, min=_MIN_SCALE**2))
    return Forecast(mean, scale, members=forecasts)
