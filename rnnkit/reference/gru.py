"""GRU (Cho et al. 2014) in torch's reset-after form: forward pass and hand-written BPTT.

Gate order r, z, n, as torch lays out ``weight_ih (3H, I)`` and ``weight_hh (3H, H)``. The reset
gate multiplies the recurrent product *after* it is taken (torch, cuDNN), so the input-side and
the hidden-side pre-activations are kept apart. Forward, for t = 1..T::

    [p_r, p_z, p_n] = x_t W_ih^T + b_ih                  input side, each (B, H)
    [q_r, q_z, q_n] = h_{t-1} W_hh^T + b_hh              hidden side, each (B, H)
    r = sigma(p_r + q_r)
    z = sigma(p_z + q_z)
    n = tanh(p_n + r * q_n)
    h_t = (1 - z) * n + z * h_{t-1}

Backward. ``h_t`` feeds step t+1 twice: through the products with ``W_hh`` and directly through
``z * h_{t-1}``; both arrive in ``dh_carry``. For t = T..1::

    dh   = dhs[t] + dh_carry
    dn   = dh * (1 - z)        dz = dh * (h_{t-1} - n)
    da_n = dn * (1 - n^2)                               gradient of n's pre-activation
    dr   = da_n * q_n
    da_r = dr * r (1 - r)      da_z = dz * z (1 - z)
    dp   = [da_r, da_z, da_n]                           dL/d(input side)    (B, 3H)
    dq   = [da_r, da_z, da_n * r]                       dL/d(hidden side)   (B, 3H)
    dW_ih += dp^T x_t    db_ih += sum_b dp    dW_hh += dq^T h_{t-1}    db_hh += sum_b dq
    dx_t = dp W_ih
    dh_carry = dh * z + dq W_hh                         (at t = 1 this is dh0)
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
class GRUCache:
    """What the backward pass needs: inputs, gates, the hidden-side candidate term and states."""

    x: Array  # (T, B, I)
    h0: Array  # (B, H)
    gates: Array  # (T, B, 3H): r, z, n after their nonlinearities
    hidden_candidate: Array  # (T, B, H): q_n = h_{t-1} W_hn^T + b_hn, before the reset gate
    hs: Array  # (T, B, H)

    cell = "gru"

    @property
    def final_state(self) -> Array:
        """``h_T (B, H)``."""
        return self.hs[-1]


def forward(params: Params, x: Array, h0: Array) -> tuple[Array, GRUCache]:
    """Run the GRU over ``x (T, B, I)`` from ``h0 (B, H)``; return ``hs (T, B, H)``, cache."""
    weight_ih, weight_hh = params["weight_ih"], params["weight_hh"]
    bias_ih, bias_hh = bias(params, "bias_ih"), bias(params, "bias_hh")
    steps, batch, hidden = x.shape[0], x.shape[1], weight_hh.shape[1]

    gates = np.empty((steps, batch, 3 * hidden))
    hidden_candidate = np.empty((steps, batch, hidden))
    hs = np.empty((steps, batch, hidden))
    h = h0
    for t in range(steps):
        p_r, p_z, p_n = np.split(x[t] @ weight_ih.T + bias_ih, 3, axis=1)
        q_r, q_z, q_n = np.split(h @ weight_hh.T + bias_hh, 3, axis=1)
        r = sigmoid(p_r + q_r)
        z = sigmoid(p_z + q_z)
        n = np.tanh(p_n + r * q_n)
        h = (1.0 - z) * n + z * h
        gates[t] = np.concatenate([r, z, n], axis=1)
        hidden_candidate[t] = q_n
        hs[t] = h
    return hs, GRUCache(x, h0, gates, hidden_candidate, hs)


def backward(
    params: Params, cache: GRUCache, dhs: Array, d_final_state: Array | None = None
) -> tuple[dict[str, Array], Array, Array]:
    """Backpropagate ``dhs = dL/dhs (T, B, H)`` (plus ``dL/dh_T`` if given) through time.

    Returns ``(grads, dx (T, B, I), dh0 (B, H))``.
    """
    grads = zero_grads(params)
    dx = np.zeros_like(cache.x)
    dh_carry = final_gradient(cache.h0, d_final_state)

    for t in reversed(range(cache.x.shape[0])):
        r, z, n = np.split(cache.gates[t], 3, axis=1)
        q_n = cache.hidden_candidate[t]
        h_prev = previous_state(cache.h0, cache.hs, t)

        dh = dhs[t] + dh_carry
        dn = dh * (1.0 - z)
        dz = dh * (h_prev - n)
        da_n = dn * (1.0 - n**2)
        dr = da_n * q_n
        da_r = dr * r * (1.0 - r)
        da_z = dz * z * (1.0 - z)
        d_input_side = np.concatenate([da_r, da_z, da_n], axis=1)
        d_hidden_side = np.concatenate([da_r, da_z, da_n * r], axis=1)

        dx[t], dh_through_weights = backprop_products(
            params, grads, d_input_side, d_hidden_side, cache.x[t], h_prev
        )
        dh_carry = dh * z + dh_through_weights
    return grads, dx, dh_carry
