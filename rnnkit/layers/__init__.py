"""Recurrent layers: ``Recurrent`` (one cell over time) and ``RNN`` (stacked, bidirectional);
the dropout variants, attention and the chunked ``linear_cross_entropy`` output loss."""

from rnnkit.layers.dropout import (
    LockedDropout,
    WeightDrop,
    dropout,
    embedding_dropout,
    locked_dropout,
)
from rnnkit.layers.losses import linear_cross_entropy
from rnnkit.layers.recurrent import Recurrent
from rnnkit.layers.rnn import CELL_NAMES, IMAGE_CELL_NAMES, RNN

__all__ = [
    "CELL_NAMES",
    "IMAGE_CELL_NAMES",
    "RNN",
    "LockedDropout",
    "Recurrent",
    "WeightDrop",
    "dropout",
    "embedding_dropout",
    "linear_cross_entropy",
    "locked_dropout",
]
