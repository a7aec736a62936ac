"""The textbook oracle: recurrent cells in NumPy float64, with backpropagation through time by hand.

No autograd anywhere: each cell module (``rnn``, ``lstm``, ``gru``) writes out the equations of its
forward and backward pass in its docstring and follows them line by line. Weights are named and laid
out as in ``torch.nn.RNN/LSTM/GRU`` (single layer, without the ``_l0`` suffix), so they copy across.

    hs, cache = forward("lstm", params, x, (h0, c0))         # x (T, B, I) -> hs (T, B, H)
    grads, dx, (dh0, dc0) = backward("lstm", params, cache, dhs)
    gradient_check("lstm", params, x, (h0, c0)) < 1e-6        # against finite differences
"""

from rnnkit.reference.dispatch import CELLS, Cache, State, backward, forward
from rnnkit.reference.gradcheck import (
    gradient_check,
    gradient_errors,
    numerical_gradient,
    relative_error,
)

__all__ = [
    "CELLS",
    "Cache",
    "State",
    "backward",
    "forward",
    "gradient_check",
    "gradient_errors",
    "numerical_gradient",
    "relative_error",
]
