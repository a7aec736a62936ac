"""Recurrent layers: ``Recurrent`` (one cell over time) and ``RNN`` (stacked, bidirectional)."""

from rnnkit.layers.dropout import (
    LockedDropout,
    WeightDrop,
    dropout,
    embedding_dropout,
    locked_dropout,
)
from rnnkit.layers.recurrent import Recurrent
from rnnkit.layers.rnn import CELL_NAMES, RNN

__all__ = [
    "CELL_NAMES",
    "RNN",
    "LockedDropout",
    "Recurrent",
    "WeightDrop",
    "dropout",
    "embedding_dropout",
    "locked_dropout",
]
