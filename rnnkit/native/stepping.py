"""ctypes bindings of ``stepping.c``: batch-1 matrix-vector products with float32, bfloat16 or
int8 weights, one LSTM, GRU or Elman step after them, and ``run_program``: a whole model step
(a list of those calls) in one call; ``draw_token``: a token drawn from a row of logits.

Every pointer argument is a tensor's ``data_ptr()`` (an int, or None for an optional one), every
vector float32 and contiguous; weights are row-major ``(rows, cols)`` in the kind's dtype
(``WEIGHT_KINDS``), bfloat16 passed as its raw 16 bits.
"""

from __future__ import annotations

import ctypes

from rnnkit.native import bind

_INT, _PTR = ctypes.c_int64, ctypes.c_void_p

#: weight dtype name -> the kernel's code for it
WEIGHT_KINDS = {"float32": 0, "bf16": 1, "int8": 2}
#: cell kind (``rnnkit.layers.torch_kernels.torch_kernel_name``) -> the kernel's code for it
CELL_KINDS = {"lstm": 0, "gru": 1, "rnn_tanh": 2, "rnn_relu": 3}

_SIGNATURES = {
    # kind, rows, cols, weight, scale, x, bias, y
    "matvec": [_INT, _INT, _INT, *[_PTR] * 5],
    # cell, kind, hidden, weight_hh, scale_hh, recurrent_bias, u, h, c, scratch
    "cell_step": [_INT, _INT, _INT, *[_PTR] * 7],
    # count, program (count, PROGRAM_WIDTH) int64, token_slot, token_pointer
    "run_program": [_INT, _PTR, _INT, _INT],
    # logits, n, temperature, uniform, token (out, int64)
    "draw_token": [_PTR, _INT, _PTR, _PTR, _PTR],
}

#: the operations of a ``run_program`` row (its first entry), then the function's arguments
OPERATIONS = {"matvec": 0, "cell_step": 1}
#: int64 entries per ``run_program`` row
PROGRAM_WIDTH = 11


def kernel() -> ctypes.CDLL | None:
    """The compiled kernel with its functions' signatures set, or None where it is unavailable
    or ``RNNKIT_NATIVE=0``."""
    return bind("stepping", _SIGNATURES)
