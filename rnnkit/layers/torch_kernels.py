"""Backend ``fused`` for the classic cells: torch's own RNN kernels (oneDNN on CPU, cuDNN on CUDA).

An ``RNN`` whose cells are ``ElmanCell``, ``LSTMCell`` or ``GRUCell(reset_after=True)`` is
expressible in torch's kernels. We call them one layer (both directions) at a time with the cells'
own parameters, so dropout, variational dropout and residual connections between layers stay ours
and behave the same as in the loop backend. With ``lengths`` the batch goes through
``pack_padded_sequence`` once and stays packed across layers.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from rnnkit.cells.base import Cell
from rnnkit.cells.elman import ElmanCell
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell


def torch_kernel_name(cell: Cell) -> str | None:
    """The name of torch's kernel that computes ``cell`` exactly, or None when there is none."""
    kind = type(cell)
    if kind is LSTMCell:
        return "lstm"
    if kind is GRUCell and cell.reset_after:
        return "gru"
    if kind is ElmanCell:
        return "rnn_tanh" if cell.nonlinearity == "tanh" else "rnn_relu"
    return None


def _flat_weights(cells: list[Cell]) -> list[Tensor]:
    weights: list[Tensor] = []
    for cell in cells:
        weights += [cell.weight_ih, cell.weight_hh]
        if cell.bias:
            weights += [cell.bias_ih, cell.bias_hh]
        if getattr(cell, "weight_hr", None) is not None:
            weights.append(cell.weight_hr)
    return weights


def run_torch_layer(
    cells: list[Cell],
    x: Tensor | PackedSequence,
    state: tuple[Tensor, ...],
    training: bool,
) -> tuple[Tensor | PackedSequence, tuple[Tensor, ...]]:
    """One layer (one or two directions) through torch's kernel.

    ``x`` is ``(B, T, I)`` (batch first) or a ``PackedSequence``; ``state`` holds each state
    component as ``(D, B, S)`` (for packed input, rows already in the packed sorted order).
    Returns the layer's output in the same form as ``x`` and the final state components.
    ``training`` must follow the module's mode: cuDNN keeps what backward needs only in training.
    """
    kernel = torch_kernel_name(cells[0])
    bidirectional = len(cells) == 2
    weights = _flat_weights(cells)
    has_bias = bool(cells[0].bias)
    hx = state if kernel == "lstm" else state[0]
    function = getattr(torch._VF, kernel)
    if isinstance(x, PackedSequence):
        result = function(
            x.data, x.batch_sizes, hx, weights, has_bias, 1, 0.0, training, bidirectional
        )
        output = PackedSequence(result[0], x.batch_sizes, x.sorted_indices, x.unsorted_indices)
    else:
        result = function(x, hx, weights, has_bias, 1, 0.0, training, bidirectional, True)
        output = result[0]
    return output, tuple(result[1:])
