"""LSTM (Hochreiter & Schmidhuber 1997): forward pass and hand-written backpropagation through time.

Gate order i, f, g, o, as torch lays out ``weight_ih (4H, I)`` and ``weight_hh (4H, H)``.
Forward, for t = 1..T (``sigma`` the logistic sigmoid, ``*`` elementwise)::

    [a_i, a_f, a_g, a_o] = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh       each (B, H)
    i = sigma(a_i)    f = sigma(a_f)    g = tanh(a_g)    o = sigma(a_o)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

Backward. Both ``h_t`` and ``c_t`` feed step t+1, so each receives a carried gradient from there
(``dh_carry``, ``dc_carry``; zero at t = T unless the final state's gradient is given).
For t = T..1::

    dh   = dhs[t] + dh_carry
    do   = dh * tanh(c_t)
    dc   = dc_carry + dh * o * (1 - tanh(c_t)^2)
    di   = dc * g        df = dc * c_{t-1}        dg = dc * i
    da_i = di * i (1 - i)    da_f = df * f (1 - f)    da_g = dg * (1 - g^2)    da_o = do * o (1 - o)
    da   = [da_i, da_f, da_g, da_o]                                          (B, 4H)
    dW_ih += da^T x_t    dW_hh += da^T h_{t-1}    db_ih += sum_b da    db_hh += sum_b da
    dx_t = da W_ih
    dh_carry = da W_hh    dc_carry = dc * f       (at t = 1 these are dh0 and dc0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnkit.reference.common import (
    Array,
    Params,
    backprop_products,
    bias,
    final_gradient,
    previous_state,
    sigmoid,
    zero_grads,
)


@dataclass
class LSTMCache:
    """What the backward pass needs: inputs, gate activations and both states at every step."""

    x: Array  # (T, B, I)
    h0: Array  # (B, H)
    c0: Array  # (B, H)
    gates: Array  # (T, B, 4H): i, f, g, o after their nonlinearities
    cs: Array  # (T, B, H) cell states
    hs: Array  # (T, B, H) hidden states

    cell = "lstm"

    @property
    def final_state(self) -> tuple[Array, Array]:
        """``(h_T, c_T)``, each ``(B, H)``."""
        return self.hs[-1], self.cs[-1]


def forward(params: Params, x: Array, state0: tuple[Array, Array]) -> tuple[Array, LSTMCache]:
    """Run the LSTM over ``x (T, B, I)`` from ``(h0, c0)``; return ``hs (T, B, H)``, cache."""
    weight_ih, weight_hh = params["weight_ih"], params["weight_hh"]
    bias_ih, bias_hh = bias(params, "bias_ih"), bias(params, "bias_hh")
    h0, c0 = state0
    steps, batch, hidden = x.shape[0], x.shape[1], weight_hh.shape[1]

    gates = np.empty((steps, batch, 4 * hidden))
    cs = np.empty((steps, batch, hidden))
    hs = np.empty((steps, batch, hidden))
    h, c = h0, c0
    for t in range(steps):
        a = x[t] @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
        a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
        i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
        c = f * c + i * g
        h = o * np.tanh(c)
        gates[t] = np.concatenate([i, f, g, o], axis=1)
        cs[t], hs[t] = c, h
    return hs, LSTMCache(x, h0, c0, gates, cs, hs)


def backward(
    params: Params,
    cache: LSTMCache,
    dhs: Array,
    d_final_state: tuple[Array, Array] | None = None,
) -> tuple[dict[str, Array], Array, tuple[Array, Array]]:
    """Backpropagate ``dhs = dL/dhs (T, B, H)`` (plus ``dL/d(h_T, c_T)`` if given) through time.

    Returns ``(grads, dx (T, B, I), (dh0, dc0))`` with ``dh0``, ``dc0`` of shape ``(B, H)``.
    """
    grads = zero_grads(params)
    dx = np.zeros_like(cache.x)
    dh_final, dc_final = (None, None) if d_final_state is None else d_final_state
    dh_carry, dc_carry = final_gradient(cache.h0, dh_final), final_gradient(cache.c0, dc_final)

    for t in reversed(range(cache.x.shape[0])):
        i, f, g, o = np.split(cache.gates[t], 4, axis=1)
        c_prev = previous_state(cache.c0, cache.cs, t)
        h_prev = previous_state(cache.h0, cache.hs, t)
        tanh_c = np.tanh(cache.cs[t])

        dh = dhs[t] + dh_carry
        do = dh * tanh_c
        dc = dc_carry + dh * o * (1.0 - tanh_c**2)
        di, df, dg = dc * g, dc * c_prev, dc * i
        da = np.concatenate(
            [di * i * (1.0 - i), df * f * (1.0 - f), dg * (1.0 - g**2), do * o * (1.0 - o)],
            axis=1,
        )
        dx[t], dh_carry = backprop_products(params, grads, da, da, cache.x[t], h_prev)
        dc_carry = dc * f
    return grads, dx, (dh_carry, dc_carry)
