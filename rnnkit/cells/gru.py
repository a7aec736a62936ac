"""Gated recurrent unit (Cho et al. 2014), gate order r, z, n as in torch."""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.cells.base import GatedCell, InitScheme


class GRUCell(GatedCell):
    """GRU cell with torch's weight layout ``weight_ih (3H, I)``, ``weight_hh (3H, H)``.

    ``reset_after=True`` (torch, cuDNN): ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``.
    ``reset_after=False`` (Cho et al. 2014): ``n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)``.
    Then ``h' = (1 - z) * n + z * h``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        reset_after: bool = True,
        bias: bool = True,
        init: InitScheme = "xavier_orthogonal",
    ) -> None:
        super().__init__(
            input_size, hidden_size, num_gates=3, recurrent_size=hidden_size, bias=bias, init=init
        )
        self.reset_after = reset_after
        self.register_biases(("bias_ih", "bias_hh"), self.gate_size)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.init_weights(self.weight_hh, [self.bias_ih, self.bias_hh])

    def project(self, x: Tensor) -> Tensor:
        """``(B, T, I) -> (B, T, 3H)``: input product, ``b_ih`` and the r, z parts of ``b_hh``."""
        u = x @ self.weight_ih.t()
        if self.bias:
            h = self.hidden_size
            # b_hn must stay inside the reset product (reset_after) or the tanh, so fold only r, z.
            folded = torch.cat([self.bias_hh[: 2 * h], torch.zeros_like(self.bias_hh[2 * h :])])
            u = u + (self.bias_ih + folded)
        return u

    def step(self, u_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        hsz = self.hidden_size
        u_r, u_z, u_n = u_t.split(hsz, dim=1)
        b_hn = self.bias_hh[2 * hsz :] if self.bias else None
        if self.reset_after:
            gh = state @ self.weight_hh.t()
            g_r, g_z, g_n = gh.split(hsz, dim=1)
            if b_hn is not None:
                g_n = g_n + b_hn
            r = torch.sigmoid(u_r + g_r)
            z = torch.sigmoid(u_z + g_z)
            n = torch.tanh(u_n + r * g_n)
        else:
            w_rz, w_n = self.weight_hh.split([2 * hsz, hsz], dim=0)
            g_r, g_z = (state @ w_rz.t()).split(hsz, dim=1)
            r = torch.sigmoid(u_r + g_r)
            z = torch.sigmoid(u_z + g_z)
            g_n = (r * state) @ w_n.t()
            if b_hn is not None:
                g_n = g_n + b_hn
            n = torch.tanh(u_n + g_n)
        h = n + z * (state - n)
        return h, h

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, reset_after={self.reset_after}"
