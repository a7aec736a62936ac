"""``forward`` and ``backward`` for any reference cell, chosen by name, with the inputs checked.

Cell names: ``"rnn"`` (tanh), ``"rnn_relu"``, ``"lstm"`` (gates i, f, g, o), ``"gru"`` (torch's
reset-after form, gates r, z, n). Shapes: ``x (T, B, I)``; a state ``(B, H)``, for the LSTM the pair
``(h, c)``; ``hs`` and ``dhs (T, B, H)``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

from rnnkit.reference import gru, lstm, rnn
from rnnkit.reference.common import (
    Array,
    Params,
    as_float64,
    check_params,
    check_sequence,
    check_state,
)

State = Array | tuple[Array, Array]
Cache = rnn.RNNCache | lstm.LSTMCache | gru.GRUCache


class _CellSpec(NamedTuple):
    num_gates: int
    state_is_pair: bool  # the LSTM's (h, c); every other cell's state is h alone
    forward: Callable[..., tuple[Array, Cache]]
    backward: Callable[..., tuple[dict[str, Array], Array, State]]


CELLS: dict[str, _CellSpec] = {
    "rnn": _CellSpec(1, False, partial(rnn.forward, nonlinearity="tanh"), rnn.backward),
    "rnn_relu": _CellSpec(1, False, partial(rnn.forward, nonlinearity="relu"), rnn.backward),
    "lstm": _CellSpec(4, True, lstm.forward, lstm.backward),
    "gru": _CellSpec(3, False, gru.forward, gru.backward),
}


def _spec(cell: str) -> _CellSpec:
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
    return CELLS[cell]


def _check_state(
    spec: _CellSpec, state: object, shape: tuple[int, int], what: str, names: tuple[str, str]
) -> State:
    """A state (or its gradient) in the cell's layout: a ``(B, H)`` array, or for the LSTM a pair.

    ``what`` names the argument, ``names`` its h and c components, for the error messages.
    """
    if not spec.state_is_pair:
        return check_state(state, what, shape)
    if not isinstance(state, (tuple, list)) or len(state) != 2:
        raise ValueError(
            f"{what} must be a pair ({names[0]}, {names[1]}) of {shape} arrays for an LSTM, "
            f"got {type(state).__name__}"
        )
    return tuple(check_state(s, n, shape) for s, n in zip(state, names, strict=True))


def forward(cell: str, params: Params, x: Array, h0: State) -> tuple[Array, Cache]:
    """Run ``cell`` over ``x (T, B, I)`` from the initial state ``h0``.

    Returns ``hs (T, B, H)``, every hidden state, and a cache for ``backward``; the cache's
    ``final_state`` is ``h_T`` (for the LSTM ``(h_T, c_T)``).
    """
    spec = _spec(cell)
    checked, input_size, hidden_size = check_params(params, spec.num_gates)
    x = check_sequence(x, input_size)
    state0 = _check_state(spec, h0, (x.shape[1], hidden_size), "h0", ("h0", "c0"))
    return spec.forward(checked, x, state0)


def backward(
    cell: str,
    params: Params,
    cache: Cache,
    dhs: Array,
    *,
    d_final_state: State | None = None,
) -> tuple[dict[str, Array], Array, State]:
    """Backpropagation through time for a ``forward`` of the same ``cell`` and ``params``.

    ``dhs (T, B, H)`` is dL/dh_t for every step; ``d_final_state``, optional, adds dL/d(final
    state) (``(B, H)``, for the LSTM the pair ``(dh_T, dc_T)``), for a loss that also reads the
    final state (the cell state ``c_T`` in particular is not part of ``hs``).
    Returns ``(grads, dx (T, B, I), dh0)``: ``grads`` under the names of ``params``, ``dh0`` of
    shape ``(B, H)`` or for the LSTM the pair ``(dh0, dc0)``.
    """
    spec = _spec(cell)
    if getattr(cache, "cell", None) != cell:
        raise ValueError(
            f"cache must come from forward({cell!r}, ...), got one from "
            f"{getattr(cache, 'cell', type(cache).__name__)!r}"
        )
    checked, _, hidden_size = check_params(params, spec.num_gates)
    dhs = as_float64(dhs, "dhs")
    if dhs.shape != cache.hs.shape:
        raise ValueError(f"dhs must have the shape of hs {cache.hs.shape}, got {dhs.shape}")
    if d_final_state is not None:
        shape = (dhs.shape[1], hidden_size)
        d_final_state = _check_state(spec, d_final_state, shape, "d_final_state", ("dh_T", "dc_T"))
    return spec.backward(checked, cache, dhs, d_final_state)
