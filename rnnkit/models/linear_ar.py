"""The closed-form fit of a ``Forecaster``'s linear autoregression (``linear=True``).

The forecaster forecasts ``y_hat = base + s * (W x + b + net)`` where, per window and target,
``x (L,)`` is the normalised history ``(history - offset) / s`` and ``base`` the seasonal-naive
forecast (or the offset without a season; ``window_statistics`` and ``seasonal_naive`` give both).
With the network's part at zero, ``W`` and ``b`` solve a ridge regression of the normalised
residual ``(future - base) / s`` on ``x``, every (window, target) pair one row:

    minimise  sum ||y_i - W x_i - b||^2 + penalty * (||W||^2 + ||b||^2)

The bias is penalised too, so a large penalty shrinks the linear part to 0: the forecast then is
the seasonal-naive one (rather than a drift learnt from the training years).

The penalty is a multiple of the number of rows, one of ``PENALTIES``: the forecast task keeps
the ``COMBINED`` whose validation forecasts are best
(``rnnkit.tasks.series_transforms.choose_linear``) and averages their fits (``combined_ridge``).
``predict`` is affine in ``(W, b)``, so the averaged fit forecasts exactly the average of their
forecasts: a forecast combination, steadier than any one penalty picked on a few folds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor

from rnnkit.models.forecaster import seasonal_naive, window_statistics

#: ridge penalties tried, as multiples of the number of regression rows
PENALTIES = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
#: the penalty (per row) used when there is no validation window to choose with
DEFAULT_PENALTY = 1e-2
#: how many of the best penalties' fits the linear part averages
COMBINED = 3


def design(
    history: Tensor, future: Tensor, season: int, relative: bool, normalise: str
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The regression of windows ``history (N, L, n)``, ``future (N, H, n)`` (float64).

    Returns inputs ``x (N * n, L)``, targets ``y (N * n, H)`` (normalised residuals), and the
    ``base (N, H, n)`` and spread ``s (N, 1, n)`` that turn a prediction back into scaled units.
    """
    history, future = history.double(), future.double()
    offset, spread = window_statistics(history, relative, normalise)
    horizon = future.shape[1]
    base = seasonal_naive(history, horizon, season) if season else offset.expand_as(future)
    x = ((history - offset) / spread).transpose(1, 2).reshape(-1, history.shape[1])
    y = ((future - base) / spread).transpose(1, 2).reshape(-1, horizon)
    return x, y, base, spread


def ridge(x: Tensor, y: Tensor, penalty: float) -> tuple[Tensor, Tensor]:
    """``W (H, L)`` and ``b (H,)`` minimising ``||y - x W^T - b||^2 + penalty ||(W, b)||^2``.

    The fit is the same to the last bit in every process: its sums run on one thread (their
    order, and so their rounding, would otherwise follow the thread count), and a positive
    penalty makes the system positive definite, solved by LU (``lstsq``'s pivoted QR, kept for a
    zero penalty, rounded differently from call to call). A run killed and resumed in another
    process must fit the weights an uninterrupted run fits.
    """
    ones = torch.ones(len(x), 1, dtype=x.dtype)
    inputs = torch.cat([x, ones], dim=1)  # (M, L + 1)
    with _one_thread():
        gram = inputs.T @ inputs + float(penalty) * torch.eye(inputs.shape[1], dtype=x.dtype)
        if penalty > 0:
            solution = torch.linalg.solve(gram, inputs.T @ y)  # (L + 1, H)
        else:
            solution = torch.linalg.lstsq(gram, inputs.T @ y).solution
    return solution[:-1].T.contiguous(), solution[-1].contiguous()


@contextmanager
def _one_thread() -> Iterator[None]:
    """Torch's CPU operations on one thread for the block, then as many as before."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def combined_ridge(x: Tensor, y: Tensor, factors: Sequence[float]) -> tuple[Tensor, Tensor]:
    """The mean ``W (H, L)``, ``b (H,)`` of the ridge fits with penalties ``factor * len(x)``
    for each of ``factors`` (penalties per regression row)."""
    if not factors:
        raise ValueError("combined_ridge needs at least one penalty")
    fits = [ridge(x, y, factor * len(x)) for factor in factors]
    weight = torch.stack([w for w, _ in fits]).mean(dim=0)
    bias = torch.stack([b for _, b in fits]).mean(dim=0)
    return weight, bias


def predict(x: Tensor, base: Tensor, spread: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """Forecasts ``(N, H, n)`` in scaled units of the linear part alone (see ``design``)."""
    n_windows, horizon, n = base.shape
    normalised = (x @ weight.T + bias).view(n_windows, n, horizon).transpose(1, 2)
    return base + spread * normalised
