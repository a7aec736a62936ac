"""Layer-normalised LSTM and GRU cells (Ba, Kiros & Hinton 2016, "Layer Normalization").

Layer normalisation of a vector ``a`` of width ``N`` with gain ``gamma`` and shift ``beta``::

    LN(a; gamma, beta) = gamma * (a - mean(a)) / sqrt(var(a) + eps) + beta

with the mean and (biased) variance taken over the ``N`` features of each row. The input product
``W_ih x`` and the recurrent product ``W_hh h`` are normalised separately, each over its whole gate
vector (4H or 3H wide) as in Ba et al., eq. (20). The input half belongs to ``project``, so it runs
for all time steps at once; only the recurrent half runs step by step.

Besides ``step``, each cell offers ``fused_sequence``: the whole recurrence over T as one
``torch.autograd.Function`` whose backward pass is written out by hand (``layernorm_kernels``; in
float32 on CPU each step's elementwise work runs in a C kernel). It computes the same function as
running ``step`` in a loop.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import GatedCell, InitScheme
from rnnkit.cells.layernorm_kernels import (
    LayerNormGRUSequence,
    LayerNormLSTMSequence,
    NativeLayerNormGRUSequence,
    NativeLayerNormLSTMSequence,
    check_sequence_input,
    native_applies,
    needs_backward,
)

LSTMState = tuple[Tensor, Tensor]


class LayerNormLSTMCell(GatedCell):
    """LSTM cell with layer normalisation (Ba et al. 2016), gate order i, f, g, o as in torch.

    With ``a = LN(W_ih x_t; gain_ih, bias_ih)`` computed by ``project`` for all steps::

        [i, f, g, o] = a + LN(W_hh h_{t-1}; gain_hh, bias_hh)      each (B, H) of the (B, 4H)
        c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
        h_t = sigmoid(o) * tanh(LN(c_t; gain_c, bias_c))

    Both gate normalisations run over all 4H features. Parameters: ``weight_ih (4H, I)``,
    ``weight_hh (4H, H)``, gains ``gain_ih, gain_hh (4H,)``, ``gain_c (H,)`` and, when ``bias``,
    shifts ``bias_ih, bias_hh (4H,)``, ``bias_c (H,)`` (the shifts of the two gate normalisations
    together play the role of torch's two LSTM biases). State: ``(h (B, H), c (B, H))``.

    Initialisation: weights per ``init`` (``init_recurrent_weights``), gains one, ``bias_c``
    zero; with ``init="xavier_orthogonal"`` the gate shifts start at zero except the forget block of
    ``bias_ih``, which starts at ``forget_bias``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        bias: bool = True,
        init: InitScheme = "xavier_orthogonal",
        forget_bias: float = 1.0,
        eps: float = 1e-5,
    ) -> None:
        super().__init__(
            input_size, hidden_size, num_gates=4, recurrent_size=hidden_size, bias=bias, init=init
        )
        self.forget_bias = forget_bias
        self.eps = eps
        self.gain_ih = nn.Parameter(torch.empty(self.gate_size))
        self.gain_hh = nn.Parameter(torch.empty(self.gate_size))
        self.gain_c = nn.Parameter(torch.empty(hidden_size))
        self.register_biases(("bias_ih", "bias_hh"), self.gate_size)
        self.register_biases(("bias_c",), hidden_size)
        self.reset_parameters()

    @property
    def state_sizes(self) -> tuple[int, ...]:
        return (self.hidden_size, self.hidden_size)

    def reset_parameters(self) -> None:
        self.init_weights(self.weight_hh, [self.bias_ih, self.bias_hh])
        with torch.no_grad():
            for gain in (self.gain_ih, self.gain_hh, self.gain_c):
                gain.fill_(1.0)
            if self.bias:
                self.bias_c.zero_()
                if self.init != "uniform":
                    h = self.hidden_size
                    self.bias_ih[h : 2 * h].fill_(self.forget_bias)

    def project(self, x: Tensor) -> Tensor:
        """``(B, T, I) -> (B, T, 4H)``: the normalised input product, ``LN(W_ih x)``."""
        return F.layer_norm(
            x @ self.weight_ih.t(), (self.gate_size,), self.gain_ih, self.bias_ih, self.eps
        )

    def step(self, u_t: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        """``u_t (B, 4H)``, ``(h, c)`` each ``(B, H)`` -> ``(h_t, (h_t, c_t))``."""
        h, c = state
        recurrent = F.layer_norm(
            h @ self.weight_hh.t(), (self.gate_size,), self.gain_hh, self.bias_hh, self.eps
        )
        i, f, g, o = (u_t + recurrent).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        cell = F.layer_norm(c, (self.hidden_size,), self.gain_c, self.bias_c, self.eps)
        h = torch.sigmoid(o) * torch.tanh(cell)
        return h, (h, c)

    def fused_sequence(
        self, u: Tensor, state: LSTMState | None = None, mask: Tensor | None = None
    ) -> tuple[Tensor, LSTMState]:
        """The whole recurrence in one autograd Function: the same result as ``step`` in a loop.

        ``u (B, T, 4H)`` from ``project``; ``state`` ``(h, c)`` each ``(B, H)`` or None for zeros;
        ``mask (B, T)`` bool or None: where ``mask[b, t]`` is False row b's state carries over and
        its output is zero. Returns ``outputs (B, T, H)`` and the final ``(h, c)``.
        """
        check_sequence_input(self, u, mask)
        if state is None:
            state = self.initial_state(u.shape[0], device=u.device, dtype=u.dtype)
        h0, c0 = state
        tensors = (u, h0, c0, self.weight_hh, self.gain_hh, self.bias_hh, self.gain_c, self.bias_c)
        native = native_applies(u, self.weight_hh)
        sequence = NativeLayerNormLSTMSequence if native else LayerNormLSTMSequence
        outputs, h, c = sequence.apply(
            u, h0, c0, mask, self.weight_hh, self.gain_hh, self.bias_hh,
            self.gain_c, self.bias_c, self.eps, needs_backward(tensors),
        )  # fmt: skip
        return outputs, (h, c)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"


# --- GRU ------------------------------------------------------------------------------------------


class LayerNormGRUCell(GatedCell):
    """GRU cell with layer normalisation (Ba et al. 2016), gate order r, z, n as in torch.

    With ``a = LN(W_ih x_t; gain_ih, bias_ih)`` computed by ``project`` for all steps and
    ``b = LN(W_hh h_{t-1}; gain_hh, bias_hh)``, both ``(B, 3H)`` split into r, z, n blocks::

        r = sigmoid(a_r + b_r)
        z = sigmoid(a_z + b_z)
        n = tanh(a_n + r * b_n)            (reset applied after the recurrent product, as cuDNN)
        h_t = (1 - z) * n + z * h_{t-1}

    Parameters: ``weight_ih (3H, I)``, ``weight_hh (3H, H)``, gains ``gain_ih, gain_hh (3H,)``
    and, when ``bias``, shifts ``bias_ih, bias_hh (3H,)``. Initialisation: weights and shifts per
    ``init`` (``init_recurrent_weights``; zero shifts), gains one. State: ``h (B, H)``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        bias: bool = True,
        init: InitScheme = "xavier_orthogonal",
        eps: float = 1e-5,
    ) -> None:
        super().__init__(
            input_size, hidden_size, num_gates=3, recurrent_size=hidden_size, bias=bias, init=init
        )
        self.eps = eps
        self.gain_ih = nn.Parameter(torch.empty(self.gate_size))
        self.gain_hh = nn.Parameter(torch.empty(self.gate_size))
        self.register_biases(("bias_ih", "bias_hh"), self.gate_size)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.init_weights(self.weight_hh, [self.bias_ih, self.bias_hh])
        with torch.no_grad():
            self.gain_ih.fill_(1.0)
            self.gain_hh.fill_(1.0)

    def project(self, x: Tensor) -> Tensor:
        """``(B, T, I) -> (B, T, 3H)``: the normalised input product, ``LN(W_ih x)``."""
        return F.layer_norm(
            x @ self.weight_ih.t(), (self.gate_size,), self.gain_ih, self.bias_ih, self.eps
        )

    def step(self, u_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """``u_t (B, 3H)``, ``h (B, H)`` -> ``(h_t, h_t)``."""
        recurrent = F.layer_norm(
            state @ self.weight_hh.t(), (self.gate_size,), self.gain_hh, self.bias_hh, self.eps
        )
        a_r, a_z, a_n = u_t.chunk(3, dim=1)
        b_r, b_z, b_n = recurrent.chunk(3, dim=1)
        r = torch.sigmoid(a_r + b_r)
        z = torch.sigmoid(a_z + b_z)
        n = torch.tanh(a_n + r * b_n)
        h = n + z * (state - n)
        return h, h

    def fused_sequence(
        self, u: Tensor, state: Tensor | None = None, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """The whole recurrence in one autograd Function: the same result as ``step`` in a loop.

        ``u (B, T, 3H)`` from ``project``; ``state (B, H)`` or None for zeros; ``mask (B, T)`` bool
        or None: where ``mask[b, t]`` is False row b's state carries over and its output is zero.
        Returns ``outputs (B, T, H)`` and the final state ``(B, H)``.
        """
        check_sequence_input(self, u, mask)
        if state is None:
            state = self.initial_state(u.shape[0], device=u.device, dtype=u.dtype)
        tensors = (u, state, self.weight_hh, self.gain_hh, self.bias_hh)
        native = native_applies(u, self.weight_hh)
        sequence = NativeLayerNormGRUSequence if native else LayerNormGRUSequence
        outputs, h = sequence.apply(
            u, state, mask, self.weight_hh, self.gain_hh, self.bias_hh, self.eps,
            needs_backward(tensors),
        )  # fmt: skip
        return outputs, h

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"
