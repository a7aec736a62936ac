"""ctypes bindings of ``layernorm.c``: one LN-LSTM or LN-GRU time step, forward and backward,
in float32.

Every pointer argument is a tensor's ``data_ptr()`` (an int, or None for an optional one), every
tensor float32 (the mask uint8), contiguous in the layout the C file documents.
"""

from __future__ import annotations

import ctypes

from rnnkit.native import bind

_INT, _PTR, _FLOAT = ctypes.c_int64, ctypes.c_void_p, ctypes.c_float

_SIGNATURES = {
    # batch, hidden, p, u, u_stride, gain_hh, bias_hh, gain_c, bias_c, h_prev, c_prev, mask, eps,
    # acts, mean_p, rstd_p, c_new, tanh_cn, mean_c, rstd_c, h_new, out, out_stride
    "ln_lstm_forward_step": [_INT, _INT, _PTR, _PTR, _INT, *[_PTR] * 7, _FLOAT, *[_PTR] * 9, _INT],
    # batch, hidden, dh, dc, acts, p, mean_p, rstd_p, gain_hh, c_prev, c_t, tanh_cn, mean_c,
    # rstd_c, gain_c, mask, grad_u, grad_u_stride, grad_rec, dc_prev, dh_carry, d_gain_hh,
    # d_bias_hh, d_gain_c, d_bias_c
    "ln_lstm_backward_step": [_INT, _INT, *[_PTR] * 15, _INT, *[_PTR] * 7],
    # batch, hidden, p, u, u_stride, gain_hh, bias_hh, h_prev, mask, eps,
    # acts, q_n, mean_p, rstd_p, h_new, out, out_stride
    "ln_gru_forward_step": [_INT, _INT, _PTR, _PTR, _INT, *[_PTR] * 4, _FLOAT, *[_PTR] * 6, _INT],
    # batch, hidden, dh, acts, q_n, p, mean_p, rstd_p, gain_hh, h_prev, g_prev, g_stride, mask,
    # grad_u, grad_u_stride, grad_rec, direct, d_gain_hh, d_bias_hh
    "ln_gru_backward_step": [_INT, _INT, *[_PTR] * 9, _INT, _PTR, _PTR, _INT, *[_PTR] * 4],
}


def kernel() -> ctypes.CDLL | None:
    """The compiled kernel with its functions' signatures set, or None where it is unavailable
    or ``RNNKIT_NATIVE=0``."""
    return bind("layernorm", _SIGNATURES)
