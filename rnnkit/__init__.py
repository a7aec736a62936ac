"""rnnkit: recurrent neural networks on PyTorch, from the cell to the command line."""

import os

# Before torch loads its OpenMP runtime: threads waiting for work sleep instead of spinning. A
# spinning thread takes a core that another process also needs, and on a 2-core machine with one
# core busy that made `rnnkit demo`'s training 20x slower (1,200 against 19,600-25,000
# characters/s). A value the user set is kept; it has no effect once torch is loaded.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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
