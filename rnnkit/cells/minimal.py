"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"), with a fast parallel scan.

Both cells drop the hidden state from their gates, so every gate depends on ``x_t`` alone and the
recurrence becomes linear in ``h``. With ``g(v) = v + 1/2 for v >= 0, sigmoid(v) for v < 0`` (the
paper's activation that keeps the candidate positive, needed by its log-space scan) they read:

    minGRU:   z_t  = sigmoid(W_z x_t + b_z)           h~_t = g(W_h x_t + b_h)
              h_t  = (1 - z_t) * h_{t-1} + z_t * h~_t

    minLSTM:  f_t  = sigmoid(W_f x_t + b_f)           i_t  = sigmoid(W_i x_t + b_i)
              f'_t = f_t / (f_t + i_t)                 i'_t = i_t / (f_t + i_t)
              h~_t = g(W_h x_t + b_h)                  h_t  = f'_t * h_{t-1} + i'_t * h~_t

Since ``f' + i' = 1``, both are the same convex mix ``h_t = (1 - w_t) * h_{t-1} + w_t * h~_t``
with a weight ``w_t`` in ``[0, 1]`` (``z_t``, resp. ``i'_t``); that is the linear recurrence
``h_t = a_t * h_{t-1} + b_t`` with ``a = 1 - w`` and ``b = w * h~``.

``project`` computes all gates for every step in one matrix product, ``step`` applies one mix
(streaming, backend "loop"), and ``scan`` runs a whole sequence at once (backend "scan"): one
autograd Function that goes through time in blocks (``_block_length``), computes each block's gates
and solves its recurrence with ``linear_scan`` (a chunked scan), and whose hand-written backward is
the reverse recurrence followed by the gate derivatives. The scan works in linear space, not the
paper's log space: products of ``a`` in ``[0, 1]`` can only shrink, so nothing overflows however
long the sequence, and it needs no exp/log per element.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from rnnkit.cells.base import GatedCell, InitScheme

# A chunk shorter than this gains nothing over plain sequential steps.
_MIN_CHUNK = 8
# Elements up to which torch runs an elementwise CPU operation on one thread (its grain size).
_CPU_GRAIN = 32768
# States (B * H * steps) per time block of the scan on CPU: every elementwise operation on a block
# stays on one thread (see _block_length).
_BLOCK_ELEMENTS = _CPU_GRAIN


# --- the candidate activation -------------------------------------------------------------------


def positive_activation(v: Tensor) -> Tensor:
    """The paper's ``g``: ``v + 1/2`` for ``v >= 0``, else ``sigmoid(v)``; continuous and > 0.

    Written as ``sigmoid(min(v, 0)) + max(v, 0)``, the same values without a boolean mask (slow on
    CPU); autograd then gives the derivative from the left at 0, ``1/4``, as the scan does.
    """
    return torch.sigmoid(v.clamp(max=0.0)) + torch.relu(v)


def _positive_activation_derivative(v: Tensor, g_of_v: Tensor) -> Tensor:
    """``g'(v)``: ``sigmoid'(v) = s (1 - s)`` for ``v <= 0``, 1 above; ``s = min(g(v), 1/2)``."""
    s = g_of_v.clamp(max=0.5)  # sigmoid(min(v, 0)): 1/2 wherever v >= 0
    derivative = torch.addcmul(s, s, s, value=-1.0)  # 1/4 wherever v >= 0
    above_zero = torch.gt(v, 0.0, out=torch.empty_like(derivative))  # 1.0 / 0.0
    return derivative.add_(above_zero, alpha=0.75)


# --- the linear recurrence h_t = a_t * h_{t-1} + b_t, by chunks ---------------------------------


@torch.no_grad()
def linear_scan(
    a: Tensor, b: Tensor, h_init: Tensor, *, reverse: bool = False, out: Tensor | None = None
) -> Tensor:
    """All states of ``h_t = a_t * h_prev + b_t`` (no autograd; the Function below wraps it).

    ``a``, ``b``: ``(B, T, H)`` of any strides; ``h_init``: ``(B, H)``, the state before the first
    step. ``prev`` is ``t - 1``, or ``t + 1`` when ``reverse`` (time runs backwards from ``T - 1``).
    Returns ``(B, T, H)``, written into ``out`` when given.

    Time is cut into chunks (``_chunk_length``). Pass 1 sweeps all chunks at once, position by
    position, and sums each chunk up as one affine map ``h_end = prod(a) * h_start + end``. The
    states between chunks follow the same kind of recurrence over those maps, solved recursively.
    Pass 2 replays every chunk from its true starting state. With ``n`` chunks that is about
    ``2 T / n`` batched elementwise operations instead of ``T`` tiny ones, and the same arithmetic
    as a step loop except for one product per chunk boundary.
    """
    if out is None:
        out = torch.empty(b.shape, dtype=b.dtype, device=b.device)
    steps = a.shape[1]
    chunk = _chunk_length(a)
    num_chunks = steps // chunk
    if num_chunks < 2:
        return _sequential_scan(a, b, h_init, reverse=reverse, out=out)

    body = num_chunks * chunk  # steps [0, body) go by chunks, the rest one by one
    tail = slice(body, steps)
    if reverse and body < steps:
        _sequential_scan(a[:, tail], b[:, tail], h_init, reverse=True, out=out[:, tail])
        h_init = out[:, body]
    a_c, b_c, out_c = (t[:, :body].unflatten(1, (num_chunks, chunk)) for t in (a, b, out))
    order = list(range(chunk - 1, -1, -1) if reverse else range(chunk))

    # Pass 1: each chunk as an affine map of its starting state, all chunks in parallel.
    prod = a_c[:, :, order[0]].clone()
    end = b_c[:, :, order[0]]
    for p in order[1:]:
        end = torch.addcmul(b_c[:, :, p], a_c[:, :, p], end)
        prod.mul_(a_c[:, :, p])

    # Between chunks: h_end(k) = prod(k) * h_end(k - 1) + end(k), the same recurrence, shorter.
    chunk_ends = linear_scan(prod, end, h_init, reverse=reverse)
    first = h_init.unsqueeze(1)
    if reverse:
        chunk_starts = torch.cat([chunk_ends[:, 1:], first], dim=1)
    else:
        chunk_starts = torch.cat([first, chunk_ends[:, :-1]], dim=1)

    # Pass 2: replay every chunk from its true starting state, writing the outputs.
    state = chunk_starts
    for p in order:
        state = torch.addcmul(b_c[:, :, p], a_c[:, :, p], state, out=out_c[:, :, p])

    if not reverse and body < steps:
        _sequential_scan(a[:, tail], b[:, tail], chunk_ends[:, -1], reverse=False, out=out[:, tail])
    return out


def _chunk_length(a: Tensor) -> int:
    """Steps per chunk of ``linear_scan`` over ``a (B, T, H)``.

    On CPU, as many chunks as keep each batched operation, ``(B, chunks, H)``, at torch's parallel
    grain (32768 elements) or below: such operations run on one thread, cost about as much as
    on two, and never wait for a second thread that a busy machine has descheduled (measured on
    2 shared cores: 8 ms per operation instead of 20 us). Elsewhere about ``sqrt(T)`` steps, the
    fewest kernel launches, ``~3 sqrt(T)``.
    """
    batch, steps, hidden = a.shape
    if a.device.type == "cpu":
        num_chunks = max(1, min(steps // _MIN_CHUNK, _CPU_GRAIN // max(1, batch * hidden)))
        return max(_MIN_CHUNK, steps // num_chunks)
    return max(_MIN_CHUNK, math.isqrt(steps))


def _sequential_scan(a: Tensor, b: Tensor, h: Tensor, *, reverse: bool, out: Tensor) -> Tensor:
    """``linear_scan`` one step at a time, for short sequences and the tail of a long one."""
    steps = list(zip(a.unbind(1), b.unbind(1), out.unbind(1), strict=True))
    for a_t, b_t, out_t in reversed(steps) if reverse else steps:
        h = torch.addcmul(b_t, a_t, h, out=out_t)
    return out


def _block_length(u: Tensor, hidden_size: int) -> int:
    """Steps per time block of ``_MixScan`` over ``u (B, T, G)``: ``_BLOCK_ELEMENTS`` states on CPU.

    Why small blocks on CPU, measured on 2 shared cores at B=16, H=256: an elementwise operation
    above torch's grain runs on two threads and, when other processes keep the cores busy, waits
    milliseconds for the descheduled second thread (best of 200: 3 ms for 65k elements, 5 us for
    32k); a whole-sequence operation also pays page faults for fresh memory (~20 ms per 64 MB).
    With blocks at the grain every temporary is small and cache-resident, and one thread does as
    much as two would: the scan trained ~3x faster than with 1M-element blocks under load. Other
    devices take the whole sequence as one block.
    """
    batch, steps, _ = u.shape
    if u.device.type != "cpu":
        return max(1, steps)
    return max(_MIN_CHUNK, _BLOCK_ELEMENTS // max(1, batch * hidden_size))


class _MixScan(torch.autograd.Function):
    """``h_t = (1 - w_t) * h_{t-1} + w_t * h~_t`` over a sequence, gates and all, in one node.

    Forward, block by block in time: the cell's gates from ``u``, then ``linear_scan`` with
    ``a = 1 - w``, ``b = w * h~``. With ``dh_t`` the total gradient reaching ``h_t`` and ``gh_t``
    the one from outside, the backward runs the blocks in reverse:
        dh_t  = gh_t + a_{t+1} * dh_{t+1}        (a reverse linear recurrence, the same scan)
        dw_t  = dh_t * (h~_t - h_{t-1})          dh~_t = dh_t * w_t          dh_0 = a_1 * dh_1
    and the cell maps ``(dw, dh~)`` back to ``du`` through its gate derivatives. One node with a
    hand-written backward keeps autograd from recording and replaying every small operation.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx, cell: _MinimalCell, u: Tensor, h0: Tensor, mask: Tensor | None
    ) -> Tensor:
        length = _block_length(u, cell.hidden_size)
        h = u.new_empty(u.shape[0], u.shape[1], cell.hidden_size)
        u_blocks, h_blocks = u.split(length, dim=1), h.split(length, dim=1)
        keep_blocks = _keep_blocks(mask, u, length)
        gates = []  # (a, w, h~) of every block, for the backward
        state = h0
        for u_block, h_block, keep in zip(u_blocks, h_blocks, keep_blocks, strict=True):
            weight, candidate = cell.gate_and_candidate(u_block)
            if keep is not None:
                weight.mul_(keep)  # w = 0: the state carries over unchanged
            a = torch.rsub(weight, 1.0)
            linear_scan(a, weight * candidate, state, out=h_block)
            state = h_block[:, -1]
            gates.append((a, weight, candidate))
        ctx.cell, ctx.length, ctx.gates = cell, length, gates
        ctx.save_for_backward(u, h0, mask, h)
        return h

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_h: Tensor) -> tuple[None, Tensor, Tensor, None]:
        u, h0, mask, h = ctx.saved_tensors
        length = ctx.length
        grad_u = torch.empty_like(u)
        h_blocks = h.split(length, dim=1)
        starts = [h0, *(h_block[:, -1] for h_block in h_blocks[:-1])]  # state before each block
        blocks = zip(
            ctx.gates,
            u.split(length, dim=1),
            h_blocks,
            starts,
            grad_h.split(length, dim=1),
            grad_u.split(length, dim=1),
            _keep_blocks(mask, u, length),
            strict=True,
        )
        carried = torch.zeros_like(h0)  # a_{t+1} * dh_{t+1} from the block after this one
        for (
            a,
            weight,
            candidate,
        ), u_block, h_block, start, grad_out, grad_u_block, keep in reversed(list(blocks)):
            dh = torch.empty_like(candidate)
            torch.add(grad_out[:, -1], carried, out=dh[:, -1])
            linear_scan(a[:, 1:], grad_out[:, :-1], dh[:, -1], reverse=True, out=dh[:, :-1])
            carried = a[:, 0] * dh[:, 0]

            grad_weight = torch.empty_like(candidate)  # (h~_t - h_{t-1}) * dh_t
            torch.sub(candidate[:, 0], start, out=grad_weight[:, 0])
            torch.sub(candidate[:, 1:], h_block[:, :-1], out=grad_weight[:, 1:])
            grad_weight.mul_(dh)
            if keep is not None:
                grad_weight.mul_(keep)
            grad_candidate = dh.mul_(weight)
            ctx.cell.gate_and_candidate_backward(
                u_block, weight, candidate, grad_weight, grad_candidate, out=grad_u_block
            )
        return None, grad_u, carried, None


def _keep_blocks(mask: Tensor | None, u: Tensor, length: int) -> list[Tensor | None]:
    """``mask (B, T)`` as 1.0 / 0.0 blocks ``(B, length, 1)`` (float: bool operations are slow)."""
    if mask is None:
        return [None] * len(range(0, u.shape[1], length))
    return list(mask.unsqueeze(-1).to(u.dtype).split(length, dim=1))


# --- the cells ----------------------------------------------------------------------------------


class _MinimalCell(GatedCell):
    """Shared body of minGRU and minLSTM: one input product, a convex mix, ``step`` and ``scan``.

    Weights: ``weight_ih (G, I)`` and ``bias_ih (G,)``, ``G = num_gates * H`` in the gate order of
    the subclass, the candidate block last. Subclasses define the weight ``w_t`` of the mix
    (``mix_weight``, and its gradient in ``mix_weight_backward``).
    """

    num_gates: int

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        bias: bool = True,
        init: InitScheme = "xavier_orthogonal",
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            num_gates=self.num_gates,
            recurrent_size=None,  # the gates read x_t alone
            bias=bias,
            init=init,
        )
        self.register_biases(("bias_ih",), self.gate_size)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier per gate block and zero bias, or torch's uniform scheme (``init``)."""
        self.init_weights(None, [self.bias_ih])

    def project(self, x: Tensor) -> Tensor:
        """``(B, T, I) -> (B, T, G)``: every gate's pre-activation; nothing else reads ``x``."""
        return F.linear(x, self.weight_ih, self.bias_ih)

    def gate_and_candidate(self, u: Tensor) -> tuple[Tensor, Tensor]:
        """``u (..., G) -> (w, h~)``, new tensors ``(..., H)``: the mix's weight and candidate."""
        gate_inputs, pre_h = self._split_candidate(u)
        return self.mix_weight(gate_inputs), positive_activation(pre_h)

    def gate_and_candidate_backward(
        self,
        u: Tensor,
        weight: Tensor,
        candidate: Tensor,
        grad_weight: Tensor,
        grad_candidate: Tensor,
        *,
        out: Tensor,
    ) -> None:
        """Write ``du (..., G)`` into ``out`` from the gradients of ``w`` and ``h~``.

        ``grad_weight`` is zero where the step was masked; the inputs may be overwritten.
        """
        gate_inputs, pre_h = self._split_candidate(u)
        grad_gates, grad_h = self._split_candidate(out)
        self.mix_weight_backward(gate_inputs, weight, grad_weight, out=grad_gates)
        torch.mul(grad_candidate, _positive_activation_derivative(pre_h, candidate), out=grad_h)

    def _split_candidate(self, u: Tensor) -> tuple[Tensor, Tensor]:
        """``u (..., G)`` as views: the gates ``(..., G - H)`` and the candidate ``(..., H)``."""
        return u.split([self.gate_size - self.hidden_size, self.hidden_size], dim=-1)

    def mix_weight(self, gate_inputs: Tensor) -> Tensor:
        """``w (..., H)``, a new tensor, from the gates' pre-activations ``(..., G - H)``."""
        raise NotImplementedError

    def mix_weight_backward(
        self, gate_inputs: Tensor, weight: Tensor, grad_weight: Tensor, *, out: Tensor
    ) -> None:
        """Write the gradient of the gates' pre-activations ``(..., G - H)`` into ``out``.

        ``weight`` is ``mix_weight(gate_inputs)`` and ``grad_weight`` its gradient (overwritable).
        """
        raise NotImplementedError

    def step(self, u_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One mix ``h_t = (1 - w_t) * h_{t-1} + w_t * h~_t``: ``u_t (B, G)``, ``state (B, H)``."""
        weight, candidate = self.gate_and_candidate(u_t)
        h = torch.lerp(state, candidate, weight)
        return h, h

    def scan(self, u: Tensor, state: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The whole sequence at once, equal to ``step`` in a loop.

        ``u (B, T, G)`` from ``project``, ``state (B, H)``, ``mask (B, T)`` bool or None. Where
        ``mask[b, t]`` is False, row ``b`` keeps its state through step ``t`` and outputs zeros.
        Returns ``(outputs (B, T, H), final_state (B, H))``.
        """
        batch, steps, width = u.shape
        if width != self.gate_size:
            raise ValueError(f"u must have {self.gate_size} features (G), got {width}")
        if state.shape != (batch, self.hidden_size):
            raise ValueError(
                f"state must have shape {(batch, self.hidden_size)}, got {tuple(state.shape)}"
            )
        if mask is not None and (mask.shape != (batch, steps) or mask.dtype != torch.bool):
            raise ValueError(
                f"mask must be a bool tensor of shape {(batch, steps)}, "
                f"got {mask.dtype} of shape {tuple(mask.shape)}"
            )
        if steps == 0:
            return u.new_empty(batch, 0, self.hidden_size), state
        h = _MixScan.apply(self, u, state, mask)
        outputs = h if mask is None else h.masked_fill(~mask.unsqueeze(-1), 0.0)
        return outputs, h[:, -1]

    def preferred_backend(self, seq_len: int, device: torch.device) -> str:
        """The faster exact backend, "scan" or "loop", for ``seq_len`` steps on ``device``."""
        return preferred_backend(seq_len, device)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"


class MinGRUCell(_MinimalCell):
    """minGRU: ``h_t = (1 - z_t) h_{t-1} + z_t g(W_h x_t + b_h)``, ``z_t = sigmoid(W_z x_t + b_z)``.

    ``weight_ih (2H, I)``, ``bias_ih (2H,)``, gate order ``z, h~``; state ``(B, H)``.
    """

    num_gates = 2

    def mix_weight(self, gate_inputs: Tensor) -> Tensor:
        return torch.sigmoid(gate_inputs)  # z

    def mix_weight_backward(
        self, gate_inputs: Tensor, weight: Tensor, grad_weight: Tensor, *, out: Tensor
    ) -> None:
        torch.mul(grad_weight, torch.addcmul(weight, weight, weight, value=-1.0), out=out)


class MinLSTMCell(_MinimalCell):
    """minLSTM: ``h_t = f'_t h_{t-1} + i'_t g(W_h x_t + b_h)`` with ``f', i'`` normalised to sum 1.

    ``weight_ih (3H, I)``, ``bias_ih (3H,)``, gate order ``f, i, h~``; state ``(B, H)``.
    ``i' = i / (f + i)`` is computed as ``sigmoid(log i - log f)``, which stays finite even where
    both gates underflow to zero.
    """

    num_gates = 3

    def mix_weight(self, gate_inputs: Tensor) -> Tensor:
        pre_f, pre_i = gate_inputs.chunk(2, dim=-1)
        # log i - log f = softplus(-pre_f) - softplus(-pre_i) (F.logsigmoid is slow on CPU).
        return torch.sigmoid(F.softplus(-pre_f) - F.softplus(-pre_i))

    def mix_weight_backward(
        self, gate_inputs: Tensor, weight: Tensor, grad_weight: Tensor, *, out: Tensor
    ) -> None:
        pre_f, pre_i = gate_inputs.chunk(2, dim=-1)
        grad_f, grad_i = out.chunk(2, dim=-1)
        # w = sigmoid(d), d = log sigmoid(i) - log sigmoid(f); d(log sigmoid(v))/dv = sigmoid(-v).
        grad_d = grad_weight.mul_(torch.addcmul(weight, weight, weight, value=-1.0))
        torch.mul(grad_d, torch.sigmoid(-pre_i), out=grad_i)
        torch.mul(grad_d, torch.sigmoid(-pre_f), out=grad_f).neg_()


# --- choosing between "scan" and "loop" ---------------------------------------------------------

# From this many steps on, "scan" is the faster backend.
SCAN_FROM_STEPS = 8


def preferred_backend(seq_len: int, device: torch.device) -> str:
    """``"scan"`` from ``SCAN_FROM_STEPS`` steps on, ``"loop"`` below; a fixed rule, not a timing.

    Measured on 2 shared CPU cores (B=16 and B=1, H=256, training and inference, best of 30):
    the loop wins by 1.5-2x at T = 1, the two are within 25% of each other at T = 4 to 8, and the
    scan trains faster from T = 8 on (1.5-3x at T = 64; benchmarks/mingru.py for T >= 128). On a
    GPU the loop pays a kernel launch per operation per step, which only widens the scan's lead
    (not measured here: no GPU). A rule rather than a one-time timing: timings on a busy machine
    swing 10x, and both backends are exact, so nothing but speed rides on the choice.
    """
    return "scan" if seq_len >= SCAN_FROM_STEPS else "loop"
