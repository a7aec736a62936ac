"""The elementwise half of a ConvLSTM / ConvGRU step: after the two convolutions, the gates'
sum, their activations and the state update, as one fused pass forward and backward.

Written with torch operations, this half is a dozen kernels per step, each a full pass over the
``(B, G_c, H, W)`` gates, and autograd keeps most of their results for the backward pass. On CPU
in float32 the C kernel ``rnnkit/native/convgates.c`` does it in one pass each way; backward, it
needs only the activated gates (and, for the LSTM, ``tanh(c')``) and the tensors that exist
anyway (``c``, ``h``, the recurrent gates). Everywhere else (another device or dtype, autocast,
tracing for export, no C compiler, ``RNNKIT_NATIVE=0``) the same function runs as torch
operations. ``RNNKIT_CONV_FUSED=0`` turns this kernel off, and with it the skipped first
recurrent convolution (``ConvGatedCell.recurrent``): the conv cells then run as plain torch
operations (the speed benchmark's "before").

With ``u`` the input convolution's gates (bias ``b_ih``; any strided view, such as a step of the
batched channels-last projection) and ``q`` the recurrent convolution's (``b_hh`` per step):

- LSTM, gates ``i, f, g, o``: ``c' = sigmoid(f) c + sigmoid(i) tanh(g)``,
  ``h' = sigmoid(o) tanh(c')`` with ``i, f, g, o = split(u + q)``.
- GRU, gates ``r, z, n``: ``r, z = sigmoid(u_r + q_r), sigmoid(u_z + q_z)``,
  ``n = tanh(u_n + r (q_n + b_hn))``, ``h' = n + z (h - n)``; ``b_hn`` is the part of ``b_hh``
  that the batched projection cannot fold (None per step, where ``q`` carries it).
"""

from __future__ import annotations

import os

import torch
from torch import Tensor

from rnnkit.native import convgates as native_convgates


def shortcuts_enabled() -> bool:
    """Whether the conv cells' CPU shortcuts may run (``RNNKIT_CONV_FUSED`` is not ``0``)."""
    return os.environ.get("RNNKIT_CONV_FUSED", "1") != "0"


#: the most torch intra-op threads at which the one-thread kernel still beats torch's parallel
#: elementwise operations (measured per step on B 8, 32 channels, 16x16: training at 2 threads
#: 0.69 ms against 0.94-1.08 ms; inference at 2 threads 0.25 ms against 0.21 ms)
MAX_THREADS = {"training": 2, "inference": 1}


def fused_applies(*tensors: Tensor | None, training: bool = False) -> bool:
    """Whether the C kernel serves this step: float32 CPU tensors, no autocast, not traced for
    export, the kernel built and not turned off, and torch running few enough threads
    (``MAX_THREADS``: the kernel runs on one) for it to be the faster."""
    if torch.compiler.is_compiling() or not shortcuts_enabled():
        return False
    if torch.get_num_threads() > MAX_THREADS["training" if training else "inference"]:
        return False
    if torch.is_autocast_enabled("cpu"):
        return False
    for t in tensors:
        if t is not None and (t.device.type != "cpu" or t.dtype != torch.float32):
            return False
    return native_convgates.kernel() is not None


def _strides(u: Tensor) -> tuple[Tensor, tuple[int, int, int]]:
    """``u (B, G, H, W)`` and its batch, channel and pixel strides, copied contiguous if its
    pixels do not collapse into one stride."""
    sb, sc, sh, sw = u.stride()
    if sh != sw * u.shape[3] and u.shape[2] > 1:
        u = u.contiguous()
        sb, sc, sh, sw = u.stride()
    return u, (sb, sc, sw)


def _needs_graph(*tensors: Tensor | None) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _geometry(state: Tensor) -> tuple[int, int, int]:
    batch, channels, height, width = state.shape
    return batch, channels, height * width


# --- ConvLSTM ---------------------------------------------------------------------------------


def conv_lstm_gates(u: Tensor, q: Tensor | None, c: Tensor) -> tuple[Tensor, Tensor]:
    """``u, q (B, 4C, H, W)``, ``c (B, C, H, W)`` -> ``h', c' (B, C, H, W)`` (module docstring).
    ``q``, a fresh convolution output, may be summed into in place; None where ``u`` holds the
    whole pre-activation (one convolution of ``[x_t, h]``)."""
    training = _needs_graph(u, q, c)
    if not fused_applies(u, q, c, training=training):
        if q is None:
            pre = u
        else:
            pre = q + u if q.is_leaf and q.requires_grad else q.add_(u)
        i, f, g, o = pre.chunk(4, dim=1)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c_new), c_new
    if training:
        return ConvLSTMGates.apply(u, q, c)
    h_new, c_new, _, _ = _lstm_forward(u, q, c, keep=False)
    return h_new, c_new


def _lstm_forward(
    u: Tensor, q: Tensor | None, c: Tensor, *, keep: bool
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """The kernel's forward: ``h', c'`` and, with ``keep``, the activated gates and
    ``tanh(c')`` for the backward pass."""
    u, (sb, sc, sp) = _strides(u)
    q = None if q is None else q.contiguous()
    c = c.contiguous()
    batch, channels, pixels = _geometry(c)
    h_new, c_new = torch.empty_like(c), torch.empty_like(c)
    acts = torch.empty(u.shape, dtype=u.dtype) if keep else None
    tanh_c = torch.empty_like(c) if keep else None
    native_convgates.kernel().conv_lstm_forward(
        batch, channels, pixels, u.data_ptr(), sb, sc, sp,
        None if q is None else q.data_ptr(), c.data_ptr(),
        None if acts is None else acts.data_ptr(),
        None if tanh_c is None else tanh_c.data_ptr(), c_new.data_ptr(), h_new.data_ptr(),
    )  # fmt: skip
    return h_new, c_new, acts, tanh_c


class ConvLSTMGates(torch.autograd.Function):
    """The LSTM half-step by the C kernel, with its backward pass: saves the activated gates
    ``(B, 4C, H, W)``, ``tanh(c')`` and ``c``; returns one gradient for both ``u`` and ``q``
    (they enter as a sum)."""

    @staticmethod
    def forward(ctx, u: Tensor, q: Tensor | None, c: Tensor) -> tuple[Tensor, Tensor]:
        h_new, c_new, acts, tanh_c = _lstm_forward(u, q, c, keep=True)
        ctx.save_for_backward(acts, tanh_c, c.contiguous())
        return h_new, c_new

    @staticmethod
    def backward(ctx, dh: Tensor, dc: Tensor) -> tuple[Tensor, Tensor | None, Tensor]:
        acts, tanh_c, c = ctx.saved_tensors
        dh, dc = dh.contiguous(), dc.contiguous()
        d_gates, dc_prev = torch.empty_like(acts), torch.empty_like(c)
        batch, channels, pixels = _geometry(c)
        native_convgates.kernel().conv_lstm_backward(
            batch, channels, pixels, acts.data_ptr(), tanh_c.data_ptr(), c.data_ptr(),
            dh.data_ptr(), dc.data_ptr(), d_gates.data_ptr(), dc_prev.data_ptr(),
        )  # fmt: skip
        return d_gates, d_gates if ctx.needs_input_grad[1] else None, dc_prev


# --- ConvGRU ----------------------------------------------------------------------------------


def conv_gru_gates(u: Tensor, q: Tensor, b_hn: Tensor | None, h: Tensor) -> Tensor:
    """``u, q (B, 3C, H, W)``, ``b_hn (C,)`` or None, ``h (B, C, H, W)`` -> ``h'``
    (module docstring)."""
    training = _needs_graph(u, q, b_hn, h)
    if not fused_applies(u, q, b_hn, h, training=training):
        u_r, u_z, u_n = u.chunk(3, dim=1)
        q_r, q_z, q_n = q.chunk(3, dim=1)
        if b_hn is not None:
            q_n = q_n + b_hn.view(1, -1, 1, 1)
        r, z = torch.sigmoid(u_r + q_r), torch.sigmoid(u_z + q_z)
        n = torch.tanh(u_n + r * q_n)
        return n + z * (h - n)
    if training:
        return ConvGRUGates.apply(u, q, b_hn, h)
    return _gru_forward(u, q, b_hn, h, keep=False)[0]


def _gru_forward(
    u: Tensor, q: Tensor, b_hn: Tensor | None, h: Tensor, *, keep: bool
) -> tuple[Tensor, Tensor | None]:
    """The kernel's forward: ``h'`` and, with ``keep``, the activated gates ``r, z, n``."""
    u, (sb, sc, sp) = _strides(u)
    q, h = q.contiguous(), h.contiguous()
    b_hn = None if b_hn is None else b_hn.contiguous()
    batch, channels, pixels = _geometry(h)
    h_new = torch.empty_like(h)
    acts = torch.empty_like(q) if keep else None
    native_convgates.kernel().conv_gru_forward(
        batch, channels, pixels, u.data_ptr(), sb, sc, sp, q.data_ptr(),
        None if b_hn is None else b_hn.data_ptr(), h.data_ptr(),
        None if acts is None else acts.data_ptr(), h_new.data_ptr(),
    )  # fmt: skip
    return h_new, acts


class ConvGRUGates(torch.autograd.Function):
    """The GRU half-step by the C kernel, with its backward pass: saves the activated gates
    ``r, z, n`` ``(B, 3C, H, W)`` beside ``q`` and ``h``, which exist anyway."""

    @staticmethod
    def forward(ctx, u: Tensor, q: Tensor, b_hn: Tensor | None, h: Tensor) -> Tensor:
        h_new, acts = _gru_forward(u, q, b_hn, h, keep=True)
        ctx.save_for_backward(acts, q.contiguous(), b_hn, h.contiguous())
        return h_new

    @staticmethod
    def backward(ctx, dh: Tensor) -> tuple[Tensor, Tensor, Tensor | None, Tensor]:
        acts, q, b_hn, h = ctx.saved_tensors
        dh = dh.contiguous()
        d_u, d_q, dh_prev = torch.empty_like(acts), torch.empty_like(acts), torch.empty_like(h)
        batch, channels, pixels = _geometry(h)
        native_convgates.kernel().conv_gru_backward(
            batch, channels, pixels, acts.data_ptr(), q.data_ptr(),
            None if b_hn is None else b_hn.data_ptr(), h.data_ptr(), dh.data_ptr(),
            d_u.data_ptr(), d_q.data_ptr(), dh_prev.data_ptr(),
        )  # fmt: skip
        d_b_hn = None
        if ctx.needs_input_grad[2]:
            d_b_hn = d_q[:, 2 * channels :].sum((0, 2, 3))
        return d_u, d_q, d_b_hn, dh_prev
