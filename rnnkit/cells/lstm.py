"""Long short-term memory cell (Hochreiter & Schmidhuber 1997); gates i, f, g, o as in torch."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.cells.base import GatedCell, InitScheme


class LSTMCell(GatedCell):
    """LSTM cell with torch's weight layout and an optional output projection.

    ``weight_ih (4H, I)``, ``weight_hh (4H, P)``, ``bias_ih (4H,)``, ``bias_hh (4H,)`` and, when
    ``proj_size = P > 0``, ``weight_hr (P, H)`` (Sak et al. 2014), so that ``h_t`` has ``P``
    features while the cell state ``c_t`` keeps ``H``. State: ``(h (B, P or H), c (B, H))``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        proj_size: int = 0,
        bias: bool = True,
        init: InitScheme = "xavier_orthogonal",
        forget_bias: float = 1.0,
    ) -> None:
        if proj_size < 0 or (proj_size and proj_size >= hidden_size):
            raise ValueError(f"proj_size must be 0 or in 1..{hidden_size - 1}, got {proj_size}")
        super().__init__(
            input_size,
            hidden_size,
            num_gates=4,
            recurrent_size=proj_size or hidden_size,
            bias=bias,
            init=init,
        )
        self.proj_size = proj_size
        self.register_biases(("bias_ih", "bias_hh"), self.gate_size)
        if proj_size:
            self.weight_hr = nn.Parameter(torch.empty(proj_size, hidden_size))
        else:
            self.register_parameter("weight_hr", None)
        self.forget_bias = forget_bias
        self.reset_parameters()

    @property
    def output_size(self) -> int:
        return self.proj_size or self.hidden_size

    @property
    def state_sizes(self) -> tuple[int, ...]:
        return (self.output_size, self.hidden_size)

    def reset_parameters(self) -> None:
        self.init_weights(self.weight_hh, [self.bias_ih, self.bias_hh])
        with torch.no_grad():
            if self.weight_hr is not None:
                if self.init == "uniform":
                    bound = self.hidden_size**-0.5
                    self.weight_hr.uniform_(-bound, bound)
                else:
                    nn.init.xavier_uniform_(self.weight_hr)
            if self.bias and self.init != "uniform":
                h = self.hidden_size
                self.bias_ih[h : 2 * h].fill_(self.forget_bias)

    def project(self, x: Tensor) -> Tensor:
        """``(B, T, I) -> (B, T, 4H)``: input product plus both biases."""
        u = x @ self.weight_ih.t()
        return u + (self.bias_ih + self.bias_hh) if self.bias else u

    def step(
        self, u_t: Tensor, state: tuple[Tensor, Tensor]
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h, c = state
        gates = torch.addmm(u_t, h, self.weight_hh.t())
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        if self.weight_hr is not None:
            h = h @ self.weight_hr.t()
        return h, (h, c)

    def extra_repr(self) -> str:
        proj = f", proj_size={self.proj_size}" if self.proj_size else ""
        return f"{self.input_size}, {self.hidden_size}{proj}"
