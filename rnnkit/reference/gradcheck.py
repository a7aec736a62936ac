"""Central finite differences, and a check of ``backward`` against them for every input of a cell.

For a scalar function f and a small step eps, the central difference

    df/da_k  ~=  (f(a + eps e_k) - f(a - eps e_k)) / (2 eps)

has truncation error O(eps^2) (the even terms of the Taylor series cancel) and rounding error about
machine_epsilon * |f| / eps; eps = 1e-6 in float64 balances the two near 1e-10 relative.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rnnkit.reference.common import Array, Params, as_float64
from rnnkit.reference.dispatch import State, backward, forward


def numerical_gradient(f: Callable[[Array], float], a: Array, eps: float = 1e-6) -> Array:
    """The gradient of the scalar function ``f`` at ``a``, by central differences, shape of ``a``.

    ``f`` is called on one float64 buffer that is perturbed one element at a time (and restored);
    ``a`` itself is not modified.
    """
    point = np.array(a, dtype=np.float64)  # a private copy to perturb
    gradient = np.empty_like(point)
    for index in np.ndindex(point.shape):
        original = point[index]
        point[index] = original + eps
        f_plus = f(point)
        point[index] = original - eps
        f_minus = f(point)
        point[index] = original
        gradient[index] = (f_plus - f_minus) / (2.0 * eps)
    return gradient


def relative_error(analytic: Array, numeric: Array) -> float:
    """``|analytic - numeric| / (|analytic| + |numeric|)`` in the Euclidean norm; 0 when both are 0.

    Measured over the whole array rather than per element, so that entries that are (nearly) zero
    cannot turn rounding noise into a large ratio.
    """
    scale = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    if scale == 0.0:
        return 0.0
    return float(np.linalg.norm(analytic - numeric) / scale)


def gradient_errors(
    cell: str,
    params: Params,
    x: Array,
    h0: State,
    *,
    seed: int = 0,
    eps: float = 1e-6,
) -> dict[str, float]:
    """Relative error of ``backward`` against finite differences, for each input of ``cell``.

    The loss is ``L = sum(hs * W)`` with ``W (T, B, H)`` drawn from a standard normal with ``seed``,
    so ``dL/dhs = W``. Keys: every name in ``params``, ``"x"``, ``"h0"`` and for the LSTM ``"c0"``.
    """
    hs, cache = forward(cell, params, x, h0)  # also checks every argument
    loss_weights = np.random.default_rng(seed).standard_normal(hs.shape)
    grads, dx, dh0 = backward(cell, params, cache, loss_weights)

    # Every input of the loss as one named array, with its analytic gradient under the same name.
    is_pair = isinstance(cache.final_state, tuple)  # the LSTM's state (h, c)
    state_names = ("h0", "c0") if is_pair else ("h0",)
    states, state_grads = (h0, dh0) if is_pair else ((h0,), (dh0,))
    inputs = {name: as_float64(value, name) for name, value in params.items()}
    inputs["x"] = as_float64(x, "x")
    inputs.update({name: as_float64(s, name) for name, s in zip(state_names, states, strict=True)})
    analytic = {**grads, "x": dx, **dict(zip(state_names, state_grads, strict=True))}

    def loss(named: dict[str, Array]) -> float:
        cell_params = {name: named[name] for name in params}
        state = (named["h0"], named["c0"]) if is_pair else named["h0"]
        hs_, _ = forward(cell, cell_params, named["x"], state)
        return float(np.sum(hs_ * loss_weights))

    errors = {}
    for name, value in inputs.items():
        numeric = numerical_gradient(lambda v, name=name: loss({**inputs, name: v}), value, eps)
        errors[name] = relative_error(analytic[name], numeric)
    return errors


def gradient_check(
    cell: str,
    params: Params,
    x: Array,
    h0: State,
    *,
    seed: int = 0,
    eps: float = 1e-6,
) -> float:
    """The largest relative error of ``backward`` against finite differences over all inputs.

    See ``gradient_errors`` for the loss used and the per-input errors.
    """
    return max(gradient_errors(cell, params, x, h0, seed=seed, eps=eps).values())
