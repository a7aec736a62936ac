"""The cell contract: one step of recurrence, h_t = f(x_t, h_{t-1}), split in two halves.

``project`` does all input-side work for every time step in one matrix product (parallel in T);
``step`` does only the recurrent half, one step at a time. Layers (``rnnkit.layers``) run the loop,
handle masking, direction, stacking and state layout; a cell knows nothing of them.

A state is a tensor ``(B, S)`` or a tuple of such tensors (LSTM: ``(h, c)``). ``state_sizes``
lists the width of each component so layers can stack states in torch's
``(num_layers * directions, B, S)`` layout.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
from torch import Tensor, nn

State = Tensor | tuple[Tensor, ...]
InitScheme = Literal["xavier_orthogonal", "uniform"]
INIT_SCHEMES: tuple[str, ...] = get_args(InitScheme)


class Cell(nn.Module):
    """Base class of every recurrent cell.

    Subclasses set ``input_size``, ``hidden_size``, ``gate_size`` (G, the width of ``project``'s
    output) and, when the state is not a single ``(B, H)`` tensor, override ``state_sizes`` and
    ``output_size``.
    """

    input_size: int
    hidden_size: int
    gate_size: int

    @property
    def output_size(self) -> int:
        """Width of ``h_t``, the per-step output (LSTM with ``proj_size``: the projection size)."""
        return self.hidden_size

    @property
    def state_sizes(self) -> tuple[int, ...]:
        """Width of each state component; a single entry means the state is one tensor."""
        return (self.hidden_size,)

    def project(self, x: Tensor) -> Tensor:
        """Input-side work for all steps: ``(B, T, I) -> (B, T, G)``."""
        raise NotImplementedError

    def step(self, u_t: Tensor, state: State) -> tuple[Tensor, State]:
        """One recurrent step: ``u_t (B, G)``, state -> ``(h_t (B, output_size), new_state)``."""
        raise NotImplementedError

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        """Zeros in the state's shape: a tensor ``(B, S)`` or a tuple of them."""
        tensors = zero_state_components((batch_size,), self.state_sizes, device=device, dtype=dtype)
        return tensors[0] if len(tensors) == 1 else tensors

    # --- shared helpers -------------------------------------------------------------------------

    def forward(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """One step from a raw input ``x_t (B, I)``, for use as a plain ``nn.*Cell`` replacement."""
        if state is None:
            state = self.initial_state(x_t.shape[0], device=x_t.device, dtype=x_t.dtype)
        u_t = self.project(x_t.unsqueeze(1)).squeeze(1)
        return self.step(u_t, state)


def init_recurrent_weights(
    weight_ih: Tensor,
    weight_hh: Tensor | None,
    biases: list[Tensor],
    *,
    num_gates: int,
    scheme: InitScheme,
    hidden_size: int,
) -> None:
    """Initialise a cell's weights in place.

    ``xavier_orthogonal`` (default): Xavier/Glorot uniform per gate block of the input
    weights, orthogonal per gate block of the recurrent weights, zero biases.
    ``uniform``: torch's scheme, U(-1/sqrt(H), 1/sqrt(H)) for everything.
    """
    with torch.no_grad():
        if scheme == "uniform":
            bound = 1.0 / math.sqrt(hidden_size)
            for w in [weight_ih, weight_hh, *biases]:
                if w is not None:
                    w.uniform_(-bound, bound)
            return
        if scheme != "xavier_orthogonal":
            raise ValueError(f"init must be 'xavier_orthogonal' or 'uniform', got {scheme!r}")
        for block in weight_ih.chunk(num_gates, dim=0):
            nn.init.xavier_uniform_(block)
        if weight_hh is not None:
            for block in weight_hh.chunk(num_gates, dim=0):
                nn.init.orthogonal_(block)
        for b in biases:
            b.zero_()


class GatedCell(Cell):
    """The set-up the built-in cells share: sizes, settings and the weights of the two products.

    ``project`` yields ``G = num_gates * H`` features, made by ``weight_ih (G, I)``; a cell with a
    recurrent product also gets ``weight_hh (G, R)``, ``R = recurrent_size`` (the width of
    ``h_{t-1}``). Subclasses register their biases and other parameters after these two, which
    keeps the order of ``parameters()`` (and so of optimiser state) as torch's.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        num_gates: int,
        recurrent_size: int | None,
        bias: bool,
        init: InitScheme,
    ) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.num_gates = num_gates
        self.gate_size = num_gates * hidden_size
        self.bias = bias
        self.init = init
        self.weight_ih = nn.Parameter(torch.empty(self.gate_size, input_size))
        if recurrent_size is not None:
            self.weight_hh = nn.Parameter(torch.empty(self.gate_size, recurrent_size))

    def register_biases(self, names: tuple[str, ...], size: int) -> None:
        """Register each of ``names`` as an uninitialised ``(size,)`` parameter, or as None
        when the cell has no biases."""
        for name in names:
            self.register_parameter(name, nn.Parameter(torch.empty(size)) if self.bias else None)

    def init_weights(self, weight_hh: Tensor | None, biases: list[Tensor]) -> None:
        """``init_recurrent_weights`` with this cell's gates and scheme: ``weight_ih``,
        ``weight_hh`` (None for a cell without one) and, when the cell has biases, ``biases``."""
        init_recurrent_weights(
            self.weight_ih,
            weight_hh,
            biases if self.bias else [],
            num_gates=self.num_gates,
            scheme=self.init,
            hidden_size=self.hidden_size,
        )


def zero_state_components(
    shape: tuple[int, ...],
    state_sizes: tuple[int, ...],
    *,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> tuple[Tensor, ...]:
    """One tensor of zeros ``(*shape, S)`` per state component of width ``S`` in ``state_sizes``."""
    return tuple(torch.zeros(*shape, size, device=device, dtype=dtype) for size in state_sizes)
