"""Recurrent cells: one step of recurrence each, behind the contract in ``rnnkit.cells.base``."""

from rnnkit.cells.base import INIT_SCHEMES, Cell, State, init_recurrent_weights
from rnnkit.cells.convolutional import ConvGRUCell, ConvLSTMCell
from rnnkit.cells.elman import ElmanCell
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.layernorm import LayerNormGRUCell, LayerNormLSTMCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.minimal import MinGRUCell, MinLSTMCell

__all__ = [
    "INIT_SCHEMES",
    "Cell",
    "State",
    "init_recurrent_weights",
    "ConvGRUCell",
    "ConvLSTMCell",
    "ElmanCell",
    "GRUCell",
    "LSTMCell",
    "LayerNormGRUCell",
    "LayerNormLSTMCell",
    "MinGRUCell",
    "MinLSTMCell",
]
