"""Elman (vanilla) RNN: forward pass and hand-written backpropagation through time.

Forward, for t = 1..T, with batch rows ``x_t (B, I)`` and ``h_t (B, H)``::

    a_t = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh        pre-activation  (B, H)
    h_t = phi(a_t)                                          phi = tanh or relu

Backward. ``dhs[t]`` is dL/dh_t from the loss alone; h_t also feeds step t+1, so the total gradient
reaching it is ``dhs[t] + dh_carry`` where ``dh_carry`` flows back from step t+1 (zero, or the
gradient of the final state, at t = T). For t = T..1::

    dh_t   = dhs[t] + dh_carry
    da_t   = dh_t * phi'(a_t)          tanh' = 1 - h_t^2,   relu' = [a_t > 0] = [h_t > 0]
    dW_ih += da_t^T x_t                db_ih += sum over the batch of da_t
    dW_hh += da_t^T h_{t-1}            db_hh += sum over the batch of da_t
    dx_t   = da_t W_ih
    dh_carry = da_t W_hh               (becomes dh_{t-1}'s share from step t; at t = 1 it is dh0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from rnnkit.reference.common import (
    Array,
    Params,
    backprop_products,
    bias,
    final_gradient,
    previous_state,
    zero_grads,
)

Nonlinearity = Literal["tanh", "relu"]


@dataclass
class RNNCache:
    """What the backward pass needs: the inputs and every hidden state."""

    nonlinearity: Nonlinearity
    x: Array  # (T, B, I)
    h0: Array  # (B, H)
    hs: Array  # (T, B, H)

    @property
    def cell(self) -> str:
        return "rnn" if self.nonlinearity == "tanh" else "rnn_relu"

    @property
    def final_state(self) -> Array:
        """``h_T (B, H)``."""
        return self.hs[-1]


def forward(
    params: Params, x: Array, h0: Array, *, nonlinearity: Nonlinearity = "tanh"
) -> tuple[Array, RNNCache]:
    """Run the RNN over ``x (T, B, I)`` from ``h0 (B, H)``; return ``hs (T, B, H)``, cache."""
    weight_ih, weight_hh = params["weight_ih"], params["weight_hh"]
    bias_ih, bias_hh = bias(params, "bias_ih"), bias(params, "bias_hh")
    phi = np.tanh if nonlinearity == "tanh" else (lambda a: np.maximum(a, 0.0))

    hs = np.empty((x.shape[0], x.shape[1], weight_hh.shape[1]))
    h = h0
    for t in range(x.shape[0]):
        a = x[t] @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
        h = phi(a)
        hs[t] = h
    return hs, RNNCache(nonlinearity, x, h0, hs)


def backward(
    params: Params, cache: RNNCache, dhs: Array, d_final_state: Array | None = None
) -> tuple[dict[str, Array], Array, Array]:
    """Backpropagate ``dhs = dL/dhs (T, B, H)`` (plus ``dL/dh_T`` if given) through time.

    Returns ``(grads, dx (T, B, I), dh0 (B, H))``.
    """
    grads = zero_grads(params)
    dx = np.zeros_like(cache.x)
    dh_carry = final_gradient(cache.h0, d_final_state)

    for t in reversed(range(cache.x.shape[0])):
        h = cache.hs[t]
        h_prev = previous_state(cache.h0, cache.hs, t)
        dh = dhs[t] + dh_carry
        phi_prime = 1.0 - h**2 if cache.nonlinearity == "tanh" else (h > 0).astype(h.dtype)
        da = dh * phi_prime
        dx[t], dh_carry = backprop_products(params, grads, da, da, cache.x[t], h_prev)
    return grads, dx, dh_carry
