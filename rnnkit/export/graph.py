"""What an exported graph is: a module of tensors in and tensors out, with named inputs and axes.

Each model kind's module in ``rnnkit.export`` wraps the model's own forward or step functions in a
``Graph``; ``rnnkit.export.onnx`` writes it. A recurrent state crosses the graph's boundary as
plain tensors in torch's layout, ``(L * D, B, S)`` per component (``h``, and ``c`` for an LSTM),
so that a caller can feed the returned state back in and run a stream chunk by chunk.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from torch import Tensor, nn

from rnnkit.cells.base import State
from rnnkit.layers import RNN, Recurrent
from rnnkit.layers.recurrent import as_tuple, from_tuple

#: the names of a state's components, by their count (an LSTM's state is the pair ``(h, c)``)
STATE_COMPONENTS = {1: ("h",), 2: ("h", "c")}


@dataclass
class Graph:
    """One graph to export.

    ``module.forward`` takes the tensors of ``inputs`` in order (their values are the example the
    exporter traces with) and returns a tuple of tensors named by ``outputs``. ``axes`` maps an
    input's name to ``{axis: dimension name}``; inputs sharing a name share that dimension
    (``"batch"``, ``"time"``), and a name ``"time+3"`` is 3 steps longer than ``"time"``.
    """

    name: str
    module: nn.Module
    inputs: dict[str, Tensor]
    outputs: tuple[str, ...]
    axes: dict[str, dict[int, str]] = field(default_factory=dict)
    summary: str = ""
    #: the least size of a named dimension, where the model needs more than torch.export's
    #: default of 2 (speech: more frames than one stack); a caller pads shorter inputs and gives
    #: their lengths
    least: dict[str, int] = field(default_factory=dict)


def state_inputs(state: State, suffix: str = "_in") -> dict[str, Tensor]:
    """A state in torch's layout as named graph inputs: ``{"h_in": (L*D, B, H), "c_in": ...}``."""
    parts = as_tuple(state)
    names = STATE_COMPONENTS[len(parts)]
    return {f"{name}{suffix}": part for name, part in zip(names, parts, strict=True)}


def state_outputs(state: State, suffix: str = "_out") -> tuple[str, ...]:
    """The output names of a state: ``("h_out",)`` or ``("h_out", "c_out")``."""
    return tuple(f"{name}{suffix}" for name in STATE_COMPONENTS[len(as_tuple(state))])


def state_axes(state: State, suffix: str = "_in") -> dict[str, dict[int, str]]:
    """The batch axis (1, torch's layout) of each state input."""
    return {name: {1: "batch"} for name in state_inputs(state, suffix)}


def join_state(parts: tuple[Tensor, ...]) -> State:
    """Graph inputs back to a state: one tensor, or a tuple of them."""
    return from_tuple(tuple(parts))


def initial_state(rnn: RNN, batch: int) -> State:
    """Zeros in ``rnn``'s state layout, on its parameters' device and dtype."""
    weight = next(rnn.parameters())
    return rnn.initial_state(batch, device=weight.device, dtype=weight.dtype)


@contextmanager
def traced_recurrence(model: nn.Module) -> Iterator[None]:
    """Run every ``RNN`` and ``Recurrent`` in ``model`` with the ``traced`` backend for the block.

    The graph then holds the recurrence as one scan over a symbolic number of steps, stepping the
    cells' own ``step`` in plain torch (never a C kernel or a fused torch kernel).
    """
    layers = [m for m in model.modules() if isinstance(m, (RNN, Recurrent))]
    saved = [layer.backend for layer in layers]
    for layer in layers:
        layer.backend = "traced"
    try:
        yield
    finally:
        for layer, backend in zip(layers, saved, strict=True):
            layer.backend = backend
