"""rnnkit: recurrent neural networks on PyTorch, from the cell to the command line."""

from rnnkit.cells import Cell, ElmanCell, GRUCell, LSTMCell
from rnnkit.errors import UserError
from rnnkit.layers import RNN, Recurrent

__version__ = "0.1.0"

__all__ = [
    "RNN",
    "Recurrent",
    "Cell",
    "ElmanCell",
    "GRUCell",
    "LSTMCell",
    "UserError",
    "__version__",
]
