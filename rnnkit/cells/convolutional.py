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

Where the input convolution runs is the cell's choice (``input_conv``), since ``project``'s output
is the cell's own business (the layer only slices it by time step):

- ``"per_step"`` (the default): ``project`` passes the frames through untouched and ``step``
  convolves ``x_t`` beside ``h`` (without gradients, the ConvLSTM convolves ``[x_t, h]`` in one
  call, the faster there). On CPU this is the faster: each step's gates stay in cache, where
  the batched form writes, reads and back-propagates through all ``B * T`` frames' gates at
  once (``benchmarks/video.py --parts speed`` and the README have the figures).
- ``"batched"``: ``project`` runs the input convolution of every frame in one call (time folded
  into the batch; channels-last, the layout oneDNN convolves fastest, its gates left in
  ``H, W, G_c`` order) and ``step`` only the recurrent one: the form of the cell contract, for
  devices where one large convolution beats many small ones (GPUs).

Both compute the same function with the same weights. After the convolutions, a step's gate
activations and state update are one fused pass forward and backward
(``convolutional_kernels``; a C kernel on CPU in float32).

Gate order and bias layout follow torch: LSTM ``i, f, g, o``; GRU ``r, z, n`` with the reset
gate applied after the recurrent convolution (``reset_after``), so a 1x1 kernel on 1x1 images is
exactly ``nn.LSTM`` / ``nn.GRU``.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import Cell, InitScheme
from rnnkit.cells.convolutional_kernels import (
    conv_gru_gates,
    conv_lstm_gates,
    shortcuts_enabled,
)

InputConv = Literal["per_step", "batched"]
INPUT_CONVS: tuple[str, ...] = get_args(InputConv)


def _pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or any(not isinstance(v, int) or v < 1 for v in pair):
        raise ValueError(f"{name} must be a positive int or a pair of them, got {value!r}")
    return pair  # type: ignore[return-value]


def _zero_state(h: Tensor) -> bool:
    """Whether ``h`` is all zeros, needs no gradient, and may be looked at without waiting for
    a device or breaking a trace for export (and the shortcuts are not turned off)."""
    if torch.compiler.is_compiling() or h.requires_grad or h.device.type != "cpu":
        return False
    if not shortcuts_enabled() or h.numel() == 0 or bool(h.reshape(-1)[0]):
        return False  # a state after a step: its first element alone says so, cheaply
    return not bool(h.any())


class ConvGatedCell(Cell):
    """What the convolutional cells share: image geometry, the two convolutions, flattening.

    Args:
        input_size: features of one flattened input frame, ``C_in * H * W``.
        hidden_size: channels of the state, ``C``.
        image_size: ``(H, W)`` (or one int for square frames).
        kernel_size: of both convolutions; odd, so "same" padding keeps ``H, W``.
        input_conv: ``"per_step"`` or ``"batched"``: where the input convolution runs (module
            docstring). ``gate_size``, the width of ``project``'s output, is ``C_in * H * W``
            per step and ``G_c * H * W`` batched.

    Weights: ``weight_ih (G_c, C_in, k, k)``, ``weight_hh (G_c, C, k, k)``, ``bias_ih``,
    ``bias_hh (G_c,)`` with ``G_c = num_gates * C``; ``num_gates`` is the subclass's (4 for the
    LSTM, 3 for the GRU).
    """

    num_gates: ClassVar[int]

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        image_size: int | tuple[int, int],
        kernel_size: int | tuple[int, int] = 3,
        bias: bool = True,
        init: InitScheme = "xavier_orthogonal",
        input_conv: InputConv = "per_step",
    ) -> None:
        super().__init__()
        if input_conv not in INPUT_CONVS:
            raise ValueError(f"input_conv must be one of {INPUT_CONVS}, got {input_conv!r}")
        self.input_conv = input_conv
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
        self.bias, self.init = bias, init
        self.gate_channels = self.num_gates * hidden_size
        self.gate_size = self.gate_channels * pixels if input_conv == "batched" else input_size
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
        """The batched input convolution's bias: ``b_ih`` plus whatever of ``b_hh`` may be
        folded (per step, each convolution adds its own bias)."""
        if not self.bias:
            return None
        return self.bias_ih + self.bias_hh

    def project(self, x: Tensor) -> Tensor:
        """``(B, T, C_in*H*W) -> (B, T, gate_size)``.

        Per step: ``x`` itself. Batched: the input convolution of all ``B * T`` frames in one
        call, time folded into the batch; the frames go in channels-last and the gates come out
        in ``H, W, G_c`` order, a free view of that layout (``input_gates`` undoes it per step).
        """
        if self.input_conv == "per_step":
            return x
        batch, steps = x.shape[0], x.shape[1]
        frames = x.reshape(batch * steps, self.in_channels, *self.image_size)
        frames = frames.contiguous(memory_format=torch.channels_last)
        u = F.conv2d(frames, self.weight_ih, self.input_bias(), padding=self.padding)
        return u.permute(0, 2, 3, 1).reshape(batch, steps, self.gate_size)

    def input_gates(self, u_t: Tensor) -> Tensor:
        """A step of ``project``'s output -> the input convolution's gates ``(B, G_c, H, W)``
        with its bias: per step, the convolution of the frame ``u_t (B, C_in*H*W)`` (bias
        ``b_ih``); batched, a view of ``u_t (B, H*W*G_c)`` (channels-last strides, no copy; the
        folded bias)."""
        if self.input_conv == "per_step":
            frame = u_t.view(u_t.shape[0], self.in_channels, *self.image_size)
            return F.conv2d(frame, self.weight_ih, self.bias_ih, padding=self.padding)
        return u_t.view(u_t.shape[0], *self.image_size, self.gate_channels).permute(0, 3, 1, 2)

    def recurrent(self, h: Tensor) -> Tensor:
        """The recurrent convolution: ``h (B, C, H, W) -> (B, G_c, H, W)``, with ``b_hh`` per
        step; batched, without (``b_hh`` is folded into the projection, as far as it may be).

        From an all-zero state that needs no gradient (the usual first step) the convolution is
        its bias alone, so it is not run: one of ``T`` recurrent convolutions, forward and
        backward, saved on CPU (elsewhere the check would wait for the device)."""
        bias = self.bias_hh if self.input_conv == "per_step" else None
        if _zero_state(h):
            shape = (h.shape[0], self.gate_channels, *h.shape[2:])
            if bias is None:
                return h.new_zeros(shape)
            return bias.view(1, -1, 1, 1).expand(shape).contiguous()
        return F.conv2d(h, self.weight_hh, bias, padding=self.padding)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, hidden_channels={self.hidden_size}, "
            f"image_size={self.image_size}, kernel_size={self.kernel_size}, "
            f"input_conv={self.input_conv!r}"
        )


class ConvLSTMCell(ConvGatedCell):
    """Convolutional LSTM (Shi et al. 2015, without peepholes), torch's gate order ``i, f, g, o``.

    ``i, f, g, o = split(W_ih * x_t + b_ih + W_hh * h + b_hh)`` (``*`` a same-padded 2-d
    convolution); ``c' = sigmoid(f) c + sigmoid(i) tanh(g)``; ``h' = sigmoid(o) tanh(c')``.
    State ``(h, c)``, each flattened ``(B, C*H*W)`` (see the module docstring).
    """

    num_gates = 4

    def step(
        self, u_t: Tensor, state: tuple[Tensor, Tensor]
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h, c = state
        batch = h.shape[0]
        h_img = self.state_image(h)
        if self._joint_inference(u_t, h_img):
            h_new, c_new = conv_lstm_gates(self.joint_gates(u_t, h_img), None, self.state_image(c))
        else:
            q = self.recurrent(h_img)
            h_new, c_new = conv_lstm_gates(self.input_gates(u_t), q, self.state_image(c))
        h_flat, c_flat = h_new.reshape(batch, -1), c_new.reshape(batch, -1)
        return h_flat, (h_flat, c_flat)

    def _joint_inference(self, u_t: Tensor, h: Tensor) -> bool:
        """Whether this step runs one convolution of ``[x_t, h]``: per step, without gradients
        (then one larger convolution is the faster; trained, the two apart are, since the
        joint one would also back-propagate into ``x_t``), from a state that is not all zeros
        (whose step needs the input convolution alone); not in a graph traced for export."""
        if torch.compiler.is_compiling() or self.input_conv != "per_step":
            return False
        if not shortcuts_enabled():
            return False
        if torch.is_grad_enabled() and any(
            t is not None and t.requires_grad for t in (u_t, h, *self.parameters())
        ):
            return False
        return not _zero_state(h)

    def joint_gates(self, u_t: Tensor, h: Tensor) -> Tensor:
        """Per step: both convolutions as one, ``[x_t, h] -> (B, G_c, H, W)``, with both biases."""
        frame = u_t.view(u_t.shape[0], self.in_channels, *self.image_size)
        weight = torch.cat([self.weight_ih, self.weight_hh], dim=1)
        bias = self.bias_ih + self.bias_hh if self.bias else None
        return F.conv2d(torch.cat([frame, h], dim=1), weight, bias, padding=self.padding)


class ConvGRUCell(ConvGatedCell):
    """Convolutional GRU, torch's gate order ``r, z, n``, reset applied after the convolution.

    ``n = tanh(W_in * x + b_in + r (W_hn * h + b_hn))``, ``h' = (1 - z) n + z h``.
    State ``h`` flattened ``(B, C*H*W)``.
    """

    num_gates = 3

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
        b_hn = None
        if self.bias and self.input_conv == "batched":  # the part of b_hh project cannot fold
            b_hn = self.bias_hh[2 * c :]
        h_new = conv_gru_gates(self.input_gates(u_t), self.recurrent(h), b_hn, h)
        h_new = h_new.reshape(batch, -1)
        return h_new, h_new
