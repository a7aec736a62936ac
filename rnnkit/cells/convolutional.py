"""Convolutional LSTM and GRU (Shi et al. 2015): convolutions instead of matrix products.

The state of a convolutional cell is an image ``(B, C, H, W)`` per component. So that these
cells run inside ``rnnkit.layers.Recurrent`` and ``rnnkit.RNN`` unchanged (masking, reversal,
stacking, bidirectionality, streaming state), frames and states travel *flattened* between a
cell and its layer: an input step is ``(B, C_in * H * W)``, a state component
``(B, C * H * W)``, in the ``C, H, W`` order of ``Tensor.flatten(1)``. Flattening and
unflattening are free views. Because the channel axis is outermost, concatenating two directions'
flattened outputs is concatenating their channels, so a bidirectional layer feeds the next one
``2 * C`` channels and no layer code knows it is running images. ``cell.state_image(state)``
gives the ``(B, C, H, W)`` view.

``project`` runs the input convolution of every time step in one call (time folded into the
batch); ``step`` runs only the recurrent convolution. Gate order and bias layout follow torch:
LSTM ``i, f, g, o``; GRU ``r, z, n`` with the reset gate applied after the recurrent convolution
(``reset_after``), so a 1x1 kernel on 1x1 images is exactly ``nn.LSTM`` / ``nn.GRU``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import Cell, InitScheme

#: output values of one block of the input convolution: on CPU, oneDNN convolves a few MiB of
#: frames at a time faster than all ``B * T`` frames at once (cache), so ``project`` goes by blocks
PROJECT_BLOCK = 1 << 19


def _pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or any(not isinstance(v, int) or v < 1 for v in pair):
        raise ValueError(f"{name} must be a positive int or a pair of them, got {value!r}")
    return pair  # type: ignore[return-value]


class ConvGatedCell(Cell):
    """What the convolutional cells share: image geometry, the two convolutions, flattening.

    Args:
        input_size: features of one flattened input frame, ``C_in * H * W``.
        hidden_size: channels of the state, ``C``.
        image_size: ``(H, W)`` (or one int for square frames).
        kernel_size: of both convolutions; odd, so "same" padding keeps ``H, W``.
        num_gates: 4 (LSTM) or 3 (GRU).

    Weights: ``weight_ih (G_c, C_in, k, k)``, ``weight_hh (G_c, C, k, k)``, ``bias_ih``,
    ``bias_hh (G_c,)`` with ``G_c = num_gates * C``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        image_size: int | tuple[int, int],
        kernel_size: int | tuple[int, int],
        num_gates: int,
        bias: bool,
        init: InitScheme,
    ) -> None:
        super().__init__()
        self.image_size = _pair(image_size, "image_size")
        self.kernel_size = _pair(kernel_size, "kernel_size")
        if any(k % 2 == 0 for k in self.kernel_size):
            raise ValueError(f"kernel_size must be odd to keep the image size, got {kernel_size}")
        pixels = self.image_size[0] * self.image_size[1]
        if input_size % pixels:
            raise ValueError(
                f"input_size {input_size} is not channels x {self.image_size[0]} x "
                f"{self.image_size[1]} pixels"
            )
        self.input_size, self.hidden_size = input_size, hidden_size
        self.in_channels = input_size // pixels
        self.num_gates, self.bias, self.init = num_gates, bias, init
        self.gate_channels = num_gates * hidden_size
        self.gate_size = self.gate_channels * pixels
        self.padding = (self.kernel_size[0] // 2, self.kernel_size[1] // 2)
        self.weight_ih = nn.Parameter(
            torch.empty(self.gate_channels, self.in_channels, *self.kernel_size)
        )
        self.weight_hh = nn.Parameter(
            torch.empty(self.gate_channels, hidden_size, *self.kernel_size)
        )
        for name in ("bias_ih", "bias_hh"):
            param = nn.Parameter(torch.empty(self.gate_channels)) if bias else None
            self.register_parameter(name, param)
        self.reset_parameters()

    # --- shapes ---------------------------------------------------------------------------------

    @property
    def state_channels(self) -> int:
        return self.hidden_size

    @property
    def output_size(self) -> int:
        """Features of one flattened output frame, ``C * H * W``."""
        return self.hidden_size * self.image_size[0] * self.image_size[1]

    @property
    def state_sizes(self) -> tuple[int, ...]:
        return (self.output_size,) * (2 if self.num_gates == 4 else 1)

    def state_image(self, part: Tensor) -> Tensor:
        """A flattened state component ``(..., C * H * W)`` viewed as ``(..., C, H, W)``."""
        return part.unflatten(-1, (self.hidden_size, *self.image_size))

    # --- weights --------------------------------------------------------------------------------

    def reset_parameters(self) -> None:
        """``xavier_orthogonal``: Xavier per gate block of both kernels (an orthogonal matrix has
        no meaning for a kernel), zero biases; ``uniform``: U(-1/sqrt(fan_in), ..) like torch."""
        with torch.no_grad():
            if self.init == "uniform":
                bound = 1.0 / math.sqrt(
                    self.hidden_size * self.kernel_size[0] * self.kernel_size[1]
                )
                for w in self.parameters():
                    w.uniform_(-bound, bound)
                return
            if self.init != "xavier_orthogonal":
                raise ValueError(
                    f"init must be 'xavier_orthogonal' or 'uniform', got {self.init!r}"
                )
            for weight in (self.weight_ih, self.weight_hh):
                for block in weight.chunk(self.num_gates, dim=0):
                    nn.init.xavier_uniform_(block)
            for b in (self.bias_ih, self.bias_hh):
                if b is not None:
                    b.zero_()

    # --- the two halves -------------------------------------------------------------------------

    def input_bias(self) -> Tensor | None:
        """The bias added in ``project``: ``b_ih`` plus whatever of ``b_hh`` may be folded."""
        if not self.bias:
            return None
        return self.bias_ih + self.bias_hh

    def project(self, x: Tensor) -> Tensor:
        """``(B, T, C_in*H*W) -> (B, T, G_c*H*W)``: the input convolution of all ``B * T``
        frames, time folded into the batch (in blocks of about ``PROJECT_BLOCK`` outputs)."""
        batch, steps = x.shape[0], x.shape[1]
        frames = x.reshape(batch * steps, self.in_channels, *self.image_size)
        bias = self.input_bias()
        block = max(1, PROJECT_BLOCK // self.gate_size)
        u = torch.cat(
            [
                F.conv2d(part, self.weight_ih, bias, padding=self.padding)
                for part in frames.split(block)
            ]
        )
        return u.reshape(batch, steps, self.gate_size)

    def recurrent(self, h: Tensor) -> Tensor:
        """The recurrent convolution: ``h (B, C, H, W) -> (B, G_c, H, W)``, no bias."""
        return F.conv2d(h, self.weight_hh, None, padding=self.padding)

    def gates(self, u_t: Tensor) -> Tensor:
        """``u_t (B, G_c*H*W)`` as ``(B, G_c, H, W)``."""
        return u_t.view(u_t.shape[0], self.gate_channels, *self.image_size)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, hidden_channels={self.hidden_size}, "
            f"image_size={self.image_size}, kernel_size={self.kernel_size}"
        )


class ConvLSTMCell(ConvGatedCell):
    """Convolutional LSTM (Shi et al. 2015, without peepholes), torch's gate order ``i, f, g, o``.

    ``i, f, g, o = split(W_ih * x_t + b_ih + W_hh * h + b_hh)`` (``*`` a same-padded 2-d
    convolution); ``c' = sigmoid(f) c + sigmoid(i) tanh(g)``; ``h' = sigmoid(o) tanh(c')``.
    State ``(h, c)``, each flattened ``(B, C*H*W)`` (see the module docstring).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        image_size: int | tuple[int, int],
        kernel_size: int | tuple[int, int] = 3,
        bias: bool = True,
        init: InitScheme = "xavier_orthogonal",
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            image_size=image_size,
            kernel_size=kernel_size,
            num_gates=4,
            bias=bias,
            init=init,
        )

    def step(
        self, u_t: Tensor, state: tuple[Tensor, Tensor]
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h, c = state
        batch = h.shape[0]
        pre = self.recurrent(self.state_image(h)).add_(self.gates(u_t))
        i, f, g, o = pre.chunk(4, dim=1)
        c_new = torch.sigmoid(f) * self.state_image(c) + torch.sigmoid(i) * torch.tanh(g)
        h_new = torch.sigmoid(o) * torch.tanh(c_new)
        h_flat, c_flat = h_new.reshape(batch, -1), c_new.reshape(batch, -1)
        return h_flat, (h_flat, c_flat)


class ConvGRUCell(ConvGatedCell):
    """Convolutional GRU, torch's gate order ``r, z, n``, reset applied after the convolution.

    ``n = tanh(W_in * x + b_in + r (W_hn * h + b_hn))``, ``h' = (1 - z) n + z h``.
    State ``h`` flattened ``(B, C*H*W)``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        image_size: int | tuple[int, int],
        kernel_size: int | tuple[int, int] = 3,
        bias: bool = True,
        init: InitScheme = "xavier_orthogonal",
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            image_size=image_size,
            kernel_size=kernel_size,
            num_gates=3,
            bias=bias,
            init=init,
        )

    def input_bias(self) -> Tensor | None:
        """``b_ih`` plus the r, z parts of ``b_hh``; ``b_hn`` stays inside the reset product."""
        if not self.bias:
            return None
        c = self.hidden_size
        folded = torch.cat([self.bias_hh[: 2 * c], torch.zeros_like(self.bias_hh[2 * c :])])
        return self.bias_ih + folded

    def step(self, u_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        batch, c = state.shape[0], self.hidden_size
        h = self.state_image(state)
        u_r, u_z, u_n = self.gates(u_t).chunk(3, dim=1)
        g_r, g_z, g_n = self.recurrent(h).chunk(3, dim=1)
        if self.bias:
            g_n = g_n + self.bias_hh[2 * c :].view(1, c, 1, 1)
        r = torch.sigmoid(u_r + g_r)
        z = torch.sigmoid(u_z + g_z)
        n = torch.tanh(u_n + r * g_n)
        h_new = (n + z * (h - n)).reshape(batch, -1)
        return h_new, h_new
