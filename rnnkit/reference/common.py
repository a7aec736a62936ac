"""Pieces shared by the reference cells: the logistic sigmoid, checked parameters, bias handling.

Conventions of the whole reference package: arrays are NumPy float64; a batch is a set of rows,
so a weight ``W (G, I)`` acts on a batch ``x (B, I)`` as ``x @ W.T``, as torch's ``F.linear``
does. ``params`` is a dict named as torch names a single-layer module's weights, without the
``_l0`` suffix: ``weight_ih (G, I)``, ``weight_hh (G, H)`` and optionally ``bias_ih (G,)`` and
``bias_hh (G,)``, where ``G = num_gates * H``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

Array = np.ndarray
Params = Mapping[str, Array]

WEIGHT_NAMES = ("weight_ih", "weight_hh")
BIAS_NAMES = ("bias_ih", "bias_hh")


def sigmoid(a: Array) -> Array:
    """The logistic function ``1 / (1 + exp(-a))``, written so that it never overflows."""
    positive = a >= 0
    safe_exp = np.exp(np.where(positive, -a, a))  # always exp of a non-positive number
    return np.where(positive, 1.0 / (1.0 + safe_exp), safe_exp / (1.0 + safe_exp))


def as_float64(value: object, name: str) -> Array:
    """``value`` as a float64 array; a TypeError naming ``name`` when it is not numeric."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be a numeric array, got {type(value).__name__}") from error


def check_params(params: Params, num_gates: int) -> tuple[dict[str, Array], int, int]:
    """Check a cell's parameters; return them as float64 arrays, and ``input_size, hidden_size``.

    Raises ValueError naming the expected and actual key set or shape.
    """
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of arrays, got {type(params).__name__}")
    allowed = set(WEIGHT_NAMES + BIAS_NAMES)
    unknown = sorted(set(params) - allowed)
    missing = [name for name in WEIGHT_NAMES if name not in params]
    if unknown or missing:
        raise ValueError(
            f"params must hold {list(WEIGHT_NAMES)} and optionally {list(BIAS_NAMES)}, "
            f"got keys {sorted(params)}"
        )
    checked = {name: as_float64(value, name) for name, value in params.items()}
    weight_ih, weight_hh = checked["weight_ih"], checked["weight_hh"]
    if weight_hh.ndim != 2 or weight_hh.shape[0] != num_gates * weight_hh.shape[1]:
        raise ValueError(f"weight_hh must have shape ({num_gates}*H, H), got {weight_hh.shape}")
    hidden_size = weight_hh.shape[1]
    gate_size = num_gates * hidden_size
    if weight_ih.ndim != 2 or weight_ih.shape[0] != gate_size:
        raise ValueError(f"weight_ih must have shape ({gate_size}, I), got {weight_ih.shape}")
    for name in BIAS_NAMES:
        if name in checked and checked[name].shape != (gate_size,):
            raise ValueError(f"{name} must have shape ({gate_size},), got {checked[name].shape}")
    return checked, weight_ih.shape[1], hidden_size


def check_sequence(x: object, input_size: int) -> Array:
    """``x`` as a float64 array of shape ``(T, B, I)`` with ``T >= 1``, or a ValueError."""
    x = as_float64(x, "x")
    if x.ndim != 3 or x.shape[0] < 1 or x.shape[2] != input_size:
        raise ValueError(f"x must have shape (T >= 1, B, {input_size}), got {x.shape}")
    return x


def check_state(state: object, name: str, shape: tuple[int, int]) -> Array:
    """One state component as a float64 array of the given ``(B, H)`` shape, or a ValueError."""
    state = as_float64(state, name)
    if state.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {state.shape}")
    return state


def bias(params: Params, name: str) -> Array | float:
    """The bias called ``name``, or 0.0 when the cell has none (so it can always be added)."""
    return params[name] if name in params else 0.0


def zero_grads(params: Params) -> dict[str, Array]:
    """One zero array per parameter, to accumulate gradients into over the time steps."""
    return {name: np.zeros_like(value) for name, value in params.items()}


def backprop_products(
    params: Params,
    grads: dict[str, Array],
    d_input_side: Array,
    d_hidden_side: Array,
    x_t: Array,
    h_prev: Array,
) -> tuple[Array, Array]:
    """Backpropagate one step through its two products; return ``(dx_t (B, I), dh_prev (B, H))``.

    ``d_input_side (B, G)`` is dL/d(x_t W_ih^T + b_ih) and ``d_hidden_side (B, G)`` is
    dL/d(h_{t-1} W_hh^T + b_hh). For an RNN or LSTM the two are the same array; a GRU's differ in
    the candidate block because the reset gate multiplies only the hidden half. Adds the step's
    weight and bias gradients to ``grads``; ``dh_prev`` is only the share through ``W_hh``.
    """
    grads["weight_ih"] += d_input_side.T @ x_t
    grads["weight_hh"] += d_hidden_side.T @ h_prev
    if "bias_ih" in grads:
        grads["bias_ih"] += d_input_side.sum(axis=0)
    if "bias_hh" in grads:
        grads["bias_hh"] += d_hidden_side.sum(axis=0)
    return d_input_side @ params["weight_ih"], d_hidden_side @ params["weight_hh"]


def final_gradient(state: Array, d_final: Array | None) -> Array:
    """What reaches the last step of a state component from after the sequence: a copy of
    ``d_final``, dL/d(its final value), or zeros in ``state``'s shape ``(B, H)``."""
    return np.zeros_like(state) if d_final is None else d_final.copy()


def previous_state(initial: Array, states: Array, t: int) -> Array:
    """The state before step ``t``: ``states[t - 1]`` of ``states (T, B, H)``, ``initial`` at 0."""
    return initial if t == 0 else states[t - 1]
