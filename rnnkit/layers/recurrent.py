"""``Recurrent``: one cell run over a sequence, with masking of padded steps, reversal and backends.

The per-direction work is the same for every cell: project all inputs at once (``cell.project``),
then run the recurrence with one of the backends below. Where ``mask[b, t]`` is False (padding), the
state of row ``b`` carries over unchanged and its output is zero, so a sequence's final state is
the state at its own last real step.

Backends for one direction:
  - ``loop``: ``cell.step`` over ``u.unbind(1)``; works for every cell (the only one for zoneout).
  - ``compiled``: the same loop under ``torch.compile`` (only when asked for; falls back to ``loop``
    with one warning when compilation is unavailable).
  - ``scan``: ``cell.scan(u, state, mask)``, for cells whose recurrence is linear in h
    (minGRU, minLSTM).
  - ``fused``: ``cell.fused_sequence(u, state, mask)``, a cell's hand-written whole-sequence kernel.
  - ``traced``: the ``loop`` as one ``torch.scan`` operator, for ``torch.export`` and ONNX export
    (inference): the body is traced once, so the graph holds a symbolic number of steps where a
    Python loop would be unrolled to the length of the example input.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import Tensor, nn

from rnnkit.cells.base import Cell, State
from rnnkit.layers.sequences import check_lengths, lengths_to_mask, reverse_padded

DIRECTION_BACKENDS = ("loop", "compiled", "scan", "fused", "traced")


def as_tuple(state: State) -> tuple[Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


def from_tuple(parts: tuple[Tensor, ...]) -> State:
    return parts[0] if len(parts) == 1 else tuple(parts)


def _zoneout(old: State, new: State, rate: float, training: bool) -> State:
    """Zoneout (Krueger et al. 2017): each unit keeps its last value with probability ``rate``."""
    mixed = []
    for o, n in zip(as_tuple(old), as_tuple(new), strict=True):
        if training:
            keep = torch.rand_like(n) < rate
            mixed.append(torch.where(keep, o, n))
        else:
            mixed.append(rate * o + (1.0 - rate) * n)
    return from_tuple(tuple(mixed))


def masked_step(
    cell: Cell,
    u_t: Tensor,
    state: State,
    keep: Tensor | None,
    zoneout: float,
    training: bool,
) -> tuple[Tensor, State]:
    """One step of ``cell`` with zoneout and a mask: where ``keep (B, 1)`` is False the state
    stays as it was and the output is zero. Returns ``(h (B, H_out), new_state)``."""
    h, new_state = cell.step(u_t, state)
    if zoneout:
        new_state = _zoneout(state, new_state, zoneout, training)
        h = as_tuple(new_state)[0]
    if keep is not None:
        new_state = from_tuple(
            tuple(
                torch.where(keep, n, o)
                for n, o in zip(as_tuple(new_state), as_tuple(state), strict=True)
            )
        )
        h = h.masked_fill(~keep, 0.0)
    return h, new_state


def step_loop(
    cell: Cell,
    u: Tensor,
    state: State,
    mask: Tensor | None = None,
    zoneout: float = 0.0,
    training: bool = False,
) -> tuple[Tensor, State]:
    """Run ``cell.step`` over ``u (B, T, G)``; return ``(outputs (B, T, H_out), final_state)``."""
    outputs = []
    step_masks = mask.unsqueeze(-1).unbind(1) if mask is not None else None
    for t, u_t in enumerate(u.unbind(1)):
        keep = step_masks[t] if step_masks is not None else None
        h, state = masked_step(cell, u_t, state, keep, zoneout, training)
        outputs.append(h)
    return torch.stack(outputs, dim=1), state


def traced_loop(
    cell: Cell,
    u: Tensor,
    state: State,
    mask: Tensor | None = None,
    zoneout: float = 0.0,
    training: bool = False,
) -> tuple[Tensor, State]:
    """``step_loop`` as one ``torch.scan`` operator: same arguments, same results (inference).

    ``torch.export`` traces ``cell.step`` once inside the operator, so an exported graph runs any
    number of steps. torch's scan is a prototype, imported on use; its body may not return a
    tensor that is also part of the carried state, hence the copy of ``h``.
    """
    from torch._higher_order_ops.scan import scan

    if training and zoneout:
        raise ValueError("backend 'traced' runs inference only; use 'loop' to train with zoneout")
    steps = (u,) if mask is None else (u, mask.unsqueeze(-1))

    def body(carry: tuple[Tensor, ...], inputs: tuple[Tensor, ...]):
        keep = inputs[1] if len(inputs) > 1 else None
        h, new = masked_step(cell, inputs[0], from_tuple(carry), keep, zoneout, training=False)
        return as_tuple(new), h.clone()

    final, outputs = scan(body, as_tuple(state), steps, dim=1)
    return outputs, from_tuple(tuple(final))


_compiled_loop: Callable | None = None
_compile_failed = False


def compiled_step_loop(*args, **kwargs) -> tuple[Tensor, State]:
    """``step_loop`` under ``torch.compile``; falls back to the eager loop with one warning."""
    global _compiled_loop, _compile_failed
    if not _compile_failed:
        try:
            if _compiled_loop is None:
                _compiled_loop = torch.compile(step_loop, dynamic=False)
            return _compiled_loop(*args, **kwargs)
        except Exception as error:  # compilation needs a C++ toolchain and a supported platform
            _compile_failed = True
            warnings.warn(
                f"backend 'compiled' is unavailable here ({type(error).__name__}: {error}); "
                "falling back to 'loop'",
                RuntimeWarning,
                stacklevel=2,
            )
    return step_loop(*args, **kwargs)


def choose_direction_backend(cell: Cell, seq_len: int, device: torch.device, zoneout: float) -> str:
    """What ``backend="auto"`` runs for one direction of ``cell``.

    A hand-written kernel (``fused_sequence``) wins where the cell has one; a cell that can both
    scan and step says which is faster for this length and device (``preferred_backend``).
    """
    if zoneout:
        return "loop"
    if callable(getattr(cell, "fused_sequence", None)):
        return "fused"
    prefer = getattr(cell, "preferred_backend", None)
    if callable(prefer):
        return prefer(seq_len, device)
    if callable(getattr(cell, "scan", None)):
        return "scan"
    return "loop"


def run_direction(
    cell: Cell,
    x: Tensor,
    state: State,
    *,
    lengths: Tensor | None,
    mask: Tensor | None,
    reverse: bool,
    backend: str,
    zoneout: float = 0.0,
    training: bool = False,
) -> tuple[Tensor, State]:
    """One direction of one layer: ``x (B, T, I) -> (outputs (B, T, H_out), final_state)``.

    The reverse direction reverses each sequence within its own length, so it starts at the
    sequence's last real step.
    """
    u = cell.project(x)
    if reverse:
        u = reverse_padded(u, lengths)
    if backend == "auto":
        backend = choose_direction_backend(cell, x.shape[1], x.device, zoneout)
    if backend == "loop":
        out, final = step_loop(cell, u, state, mask, zoneout, training)
    elif backend == "compiled":
        out, final = compiled_step_loop(cell, u, state, mask, zoneout, training)
    elif backend == "traced":
        out, final = traced_loop(cell, u, state, mask, zoneout, training)
    elif backend in ("scan", "fused"):
        if zoneout:
            raise ValueError(f"backend {backend!r} does not support zoneout; use 'loop'")
        method = "scan" if backend == "scan" else "fused_sequence"
        run = getattr(cell, method, None)
        if not callable(run):
            raise ValueError(
                f"backend {backend!r} needs a cell with a {method}() method, "
                f"got {type(cell).__name__}; use 'loop'"
            )
        out, final = run(u, state, mask)
    else:
        raise ValueError(f"backend must be one of {DIRECTION_BACKENDS} or 'auto', got {backend!r}")
    if reverse:
        out = reverse_padded(out, lengths)
    return out, final


def check_input(x: Tensor, input_size: int) -> None:
    if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[-1] != input_size:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"expected input of shape (B, T, {input_size}), got {shape}")
    if x.shape[1] == 0:
        raise ValueError("expected at least one time step, got an input with T = 0")


class Recurrent(nn.Module):
    """Run one cell over a batch of sequences.

    Args:
        cell: any module following the cell contract (``rnnkit.cells.base.Cell``).
        reverse: run from each sequence's last real step back to its first.
        backend: ``"auto"``, ``"loop"``, ``"compiled"``, ``"scan"``, ``"fused"`` or ``"traced"``
            (see module doc).
        zoneout: probability that a state unit keeps its previous value (training); loop only.

    Forward: ``x (B, T, I)``, optional ``state`` (the cell's state: ``(B, S)`` or a tuple) and
    ``lengths (B,)`` -> ``(outputs (B, T, H_out), final_state)``; outputs past a sequence's length
    are zero and its final state is the state at its last real step.
    """

    def __init__(
        self, cell: Cell, reverse: bool = False, backend: str = "auto", zoneout: float = 0.0
    ) -> None:
        super().__init__()
        if backend not in (*DIRECTION_BACKENDS, "auto"):
            raise ValueError(
                f"backend must be one of {DIRECTION_BACKENDS} or 'auto', got {backend!r}"
            )
        if not 0.0 <= zoneout < 1.0:
            raise ValueError(f"zoneout must be in [0, 1), got {zoneout}")
        self.cell = cell
        self.reverse = reverse
        self.backend = backend
        self.zoneout = zoneout

    def forward(
        self, x: Tensor, state: State | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, State]:
        check_input(x, self.cell.input_size)
        batch, steps = x.shape[0], x.shape[1]
        mask = None
        if lengths is not None:
            lengths = check_lengths(lengths, batch, steps)
            mask = lengths_to_mask(lengths, steps, device=x.device)
        if state is None:
            state = self.cell.initial_state(batch, device=x.device, dtype=x.dtype)
        else:
            for part, size in zip(as_tuple(state), self.cell.state_sizes, strict=True):
                if tuple(part.shape) != (batch, size):
                    raise ValueError(
                        f"state must have shape ({batch}, {size}), got {tuple(part.shape)}"
                    )
        return run_direction(
            self.cell,
            x,
            state,
            lengths=lengths,
            mask=mask,
            reverse=self.reverse,
            backend=self.backend,
            zoneout=self.zoneout,
            training=self.training,
        )
