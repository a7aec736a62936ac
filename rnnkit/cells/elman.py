"""Elman (vanilla) RNN cell: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from rnnkit.cells.base import GatedCell, InitScheme


class ElmanCell(GatedCell):
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
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(
            input_size, hidden_size, num_gates=1, recurrent_size=hidden_size, bias=bias, init=init
        )
        self.nonlinearity = nonlinearity
        self.register_biases(("bias_ih", "bias_hh"), hidden_size)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.init_weights(self.weight_hh, [self.bias_ih, self.bias_hh])

    def project(self, x: Tensor) -> Tensor:
        """``(B, T, I) -> (B, T, H)``: input product plus both biases."""
        u = x @ self.weight_ih.t()
        return u + (self.bias_ih + self.bias_hh) if self.bias else u

    def step(self, u_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        pre = torch.addmm(u_t, state, self.weight_hh.t())
        h = torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre)
        return h, h

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, nonlinearity={self.nonlinearity!r}"
