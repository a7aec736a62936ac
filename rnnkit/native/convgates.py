"""ctypes bindings of ``convgates.c``: the elementwise half of one ConvLSTM or ConvGRU step,
forward and backward, in float32.

Every pointer argument is a tensor's ``data_ptr()`` (an int, or None for an optional one), every
tensor float32 and contiguous ``(B, channels, H * W)`` except the input gates, which are passed
with their batch, channel and pixel strides (in elements).
"""

from __future__ import annotations

import ctypes

from rnnkit.native import bind

_INT, _PTR = ctypes.c_int64, ctypes.c_void_p

_SIGNATURES = {
    # batch, channels, pixels, u, u_sb, u_sc, u_sp, q, c_prev, acts, tanh_c, c_new, h_new
    "conv_lstm_forward": [_INT, _INT, _INT, _PTR, _INT, _INT, _INT, *[_PTR] * 6],
    # batch, channels, pixels, acts, tanh_c, c_prev, dh, dc, d_a, dc_prev
    "conv_lstm_backward": [_INT, _INT, _INT, *[_PTR] * 7],
    # batch, channels, pixels, u, u_sb, u_sc, u_sp, q, b_hn, h_prev, acts, h_new
    "conv_gru_forward": [_INT, _INT, _INT, _PTR, _INT, _INT, _INT, *[_PTR] * 5],
    # batch, channels, pixels, acts, q, b_hn, h_prev, dh, d_u, d_q, dh_prev
    "conv_gru_backward": [_INT, _INT, _INT, *[_PTR] * 8],
}


def kernel() -> ctypes.CDLL | None:
    """The compiled kernel with its functions' signatures set, or None where it is unavailable
    or ``RNNKIT_NATIVE=0``."""
    return bind("convgates", _SIGNATURES)
