"""Row operations on a decoder's state, whatever its structure.

A search keeps one state row per hypothesis. The state a ``step`` function carries may be a tensor,
a tuple/list of them, a dict of them, nested, or ``None`` leaves, and different tensors may hold
their rows in different dims: an LSTM state ``(h, c)`` keeps rows in dim 1 of ``(L, N, H)`` while
an attention decoder's encoder memory ``(N, S, D)`` keeps them in dim 0. ``dims`` declares where:

- an int applies to every tensor below that point (``dims=1`` for a plain LSTM state);
- otherwise ``dims`` mirrors the state's structure, e.g. for
  ``{"rnn": (h, c), "memory": m, "mask": k}`` use ``{"rnn": 1, "memory": 0, "mask": 0}``;
- ``None`` (``SHARED``) marks a part that has one row per *input*, shared by all of that input's
  hypotheses (an encoder's memory, which no step changes): a beam search neither repeats nor
  reorders it, and the step function broadcasts it over the ``N / B`` hypotheses of each input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

StateDims = Any  # an int, None (SHARED), or a tuple/list/dict of StateDims mirroring the state

#: The dims of a state part kept once per input row, not once per hypothesis.
SHARED = None


def map_rows(
    state: Any,
    dims: StateDims,
    fn: Callable[[Tensor, int], Tensor],
    shared: Callable[[Tensor], Tensor] | None = None,
) -> Any:
    """Apply ``fn(tensor, row_dim)`` to every tensor of ``state``, keeping its structure; parts
    whose dims are ``SHARED`` go through ``shared(tensor)`` (rows in dim 0), or are returned as
    they are without it."""
    if state is None:
        return None
    if dims is SHARED:
        return state if shared is None else map_rows(state, 0, lambda tensor, _: shared(tensor))
    if isinstance(state, Tensor):
        if not isinstance(dims, int):
            raise TypeError(f"a tensor's row dim must be an int, got {type(dims).__name__}")
        return fn(state, dims)
    if isinstance(state, dict):
        return {
            key: map_rows(value, dims if isinstance(dims, int) else dims[key], fn, shared)
            for key, value in state.items()
        }
    if isinstance(state, (tuple, list)):
        if not isinstance(dims, int) and len(dims) != len(state):
            raise ValueError(f"state has {len(state)} parts but dims has {len(dims)}")
        parts = [
            map_rows(value, dims if isinstance(dims, int) else dims[i], fn, shared)
            for i, value in enumerate(state)
        ]
        if hasattr(state, "_fields"):  # a namedtuple
            return type(state)(*parts)
        return type(state)(parts)
    raise TypeError(
        f"state must be a tensor, tuple, list, dict or None, got {type(state).__name__}"
    )


def select_rows(
    state: Any, index: Tensor, dims: StateDims, shared_index: Tensor | None = None
) -> Any:
    """The rows ``index (M,)`` of every tensor in ``state`` (reorders hypotheses); the ``SHARED``
    parts keep their rows, or take the rows ``shared_index`` (drops finished inputs)."""
    shared = None if shared_index is None else (lambda tensor: tensor.index_select(0, shared_index))
    return map_rows(state, dims, lambda tensor, dim: tensor.index_select(dim, index), shared)


def repeat_rows(state: Any, times: int, dims: StateDims) -> Any:
    """Each row repeated ``times`` times in place: row ``r`` becomes rows ``r*times ..
    r*times + times - 1`` (the layout of a beam search's hypotheses)."""
    return map_rows(state, dims, lambda tensor, dim: tensor.repeat_interleave(times, dim=dim))


def device_of(state: Any) -> torch.device:
    """The device of the first tensor in ``state`` (the CPU when it holds none)."""
    found: list[torch.device] = []
    map_rows(state, 0, lambda tensor, dim: found.append(tensor.device) or tensor)
    return found[0] if found else torch.device("cpu")
