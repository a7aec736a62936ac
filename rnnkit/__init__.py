"""rnnkit: recurrent neural networks on PyTorch, from the cell to the command line."""

from rnnkit.openmp import choose_wait_policy

choose_wait_policy()  # before torch loads (the imports below load it): see rnnkit/openmp.py

from rnnkit.cells import Cell, ElmanCell, GRUCell, LSTMCell  # noqa: E402
from rnnkit.errors import UserError  # noqa: E402
from rnnkit.layers import RNN, Recurrent  # noqa: E402

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
