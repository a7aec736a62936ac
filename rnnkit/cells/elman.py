"""Elman (vanilla) RNN cell: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from rnnkit.cells.base import Cell, InitScheme, init_recurrent_weights


class ElmanCell(Cell):
    """The classic recurrent cell with a ``tanh`` or ``relu`` nonlinearity.

    Weights are laid out as in ``torch.nn.RNN``: ``weight_ih (H, I)``, ``weight_hh (H, H)``,
    ``bias_ih (H,)``, ``bias_hh (H,)``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        nonlinearity: Literal["tanh", "relu"] = "tanh",
        bias: bool = True,
        init: InitScheme = "xavier_orthogonal",
    ) -> None:
        super().__init__()
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.input_size, self.hidden_size, self.gate_size = input_size, hidden_size, hidden_size
        self.nonlinearity = nonlinearity
        self.bias = bias
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(hidden_size))
            self.bias_hh = nn.Parameter(torch.empty(hidden_size))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.init = init
        self.reset_parameters()

    def reset_parameters(self) -> None:
        biases = [self.bias_ih, self.bias_hh] if self.bias else []
        init_recurrent_weights(
            self.weight_ih,
            self.weight_hh,
            biases,
            num_gates=1,
            scheme=self.init,
            hidden_size=self.hidden_size,
        )

    def project(self, x: Tensor) -> Tensor:
        """``(B, T, I) -> (B, T, H)``: input product plus both biases."""
        u = x @ self.weight_ih.t()
        if self.bias:
            u = u + (self.bias_ih + self.bias_hh)
        return u

    def step(self, u_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        pre = torch.addmm(u_t, state, self.weight_hh.t())
        h = torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre)
        return h, h

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, nonlinearity={self.nonlinearity!r}"
