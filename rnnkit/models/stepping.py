"""A language model stepped one token at a time at batch 1: what ``LanguageModel.generate`` runs.

At batch 1 a step reads every weight once and does two flops with each, so it is bound by how
fast the weights stream from cache (and, with small models, by the per-call overhead of the
framework). Two steppers share one interface (``start(state)``, then ``step(token_id) -> logits
(1, V)``), and a third steps many streams at once:

- ``NativeStepper`` for the classic cells (LSTM without ``proj_size``, GRU with
  ``reset_after``, Elman): every layer is one or two calls of the C kernel
  ``rnnkit/native/stepping.c`` on preallocated buffers, with float32, bfloat16 or int8 weights
  (``WEIGHTS``). The first layer's input projection of every vocabulary entry is precomputed into
  a table, so that layer reads only its recurrent matrix.
- ``TorchStepper`` for every other cell (LayerNorm, minimal cells, a user's own) and wherever the
  kernel cannot be built: the cells' own ``project``/``step``, or torch's fused cell function
  (``torch.lstm_cell``...) where that computes the cell exactly.
- ``BatchStepper``: ``B`` independent streams, ``step(token_ids (B,)) -> logits (B, V)``, through
  each cell's ``project``/``step``; streams leave with ``keep(rows)`` (what ``rnnkit serve``'s
  batched sampling runs).

Reduced-precision weights (``weights="bf16"`` or ``"int8"``) round every weight matrix (the
cells' ``weight_ih``/``weight_hh``, the projection and the output layer; not the embedding,
which is only looked up): bfloat16 by round-to-nearest-even, int8 symmetrically with one float32
scale per row (``w ~ scale_r * q``, ``|q| <= 127``). ``TorchStepper`` then runs on a copy of the
model holding the rounded weights, so both steppers compute the same function; only the native
one is faster for it.
"""

from __future__ import annotations

import copy
import ctypes
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from rnnkit.cells.base import Cell, State
from rnnkit.layers.recurrent import as_tuple, from_tuple
from rnnkit.layers.torch_kernels import torch_kernel_name
from rnnkit.native import stepping as native_stepping

#: the weight precisions a stepper accepts
WEIGHTS = ("float32", "bf16", "int8")

# Largest first-layer lookup table (vocabulary x gate width) that a stepper precomputes.
_MAX_TABLE_ELEMENTS = 1 << 23


class Stepper(Protocol):
    """Steps a language model one token at a time at batch 1."""

    def start(self, state: State) -> None:
        """Continue from ``state`` in the model's layout (``(L, 1, H)`` per component)."""

    def step(self, token_id: int) -> Tensor:
        """Feed one token; the logits ``(1, V)`` for the next (valid until the next step)."""


def make_stepper(model: Any, weights: str = "float32") -> Stepper:
    """The fastest stepper for ``model`` (a ``LanguageModel`` in eval mode) with ``weights``.

    ``NativeStepper`` where the model's cells are classic, it lives on the CPU in float32 and the
    kernel is available; ``TorchStepper`` otherwise.
    """
    check_weights(weights)
    if NativeStepper.supports(model):
        return NativeStepper(model, weights)
    if weights != "float32":
        model = with_rounded_weights(model, weights)
    return TorchStepper(model)


def check_weights(weights: str) -> None:
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")


def step_logits(model: Any, token_ids: Sequence[int], weights: str = "float32") -> Tensor:
    """Logits ``(T, V)`` after each of ``token_ids`` fed one at a time from the zero state.

    Row ``t`` predicts token ``t + 1``: the cross entropy of rows ``:-1`` against ``ids[1:]`` is
    the loss of a text under the stepper (how reduced-precision weights are checked).
    """
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            stepper = make_stepper(model, weights)
            stepper.start(model.initial_state(1))
            return torch.cat([stepper.step(int(t)).clone() for t in token_ids])
    finally:
        model.train(was_training)


def step_bytes(model: Any, weights: str = "float32") -> int:
    """Bytes of parameters one batch-1 step reads, with its weight matrices in ``weights``.

    Every cell's parameters (the first layer's input product replaced by one table row where the
    vocabulary is small enough), the projection and the output layer; the embedding is not read.
    Matrices take 4, 2 or 1 bytes an entry (int8 plus a float32 scale per row), vectors 4.
    """
    check_weights(weights)
    cells = list(model.rnn.cells)
    table = model.embedding.weight.shape[0] * cells[0].gate_size <= _MAX_TABLE_ELEMENTS
    total = 4 * cells[0].gate_size if table else 0
    named = [(f"{i}.{n}", p) for i, cell in enumerate(cells) for n, p in cell.named_parameters()]
    modules = [model.decoder] + ([model.projection] if model.projection is not None else [])
    named += [(f"out.{n}", p) for module in modules for n, p in module.named_parameters()]
    for name, parameter in named:
        if table and name.startswith("0.") and "weight_ih" in name:
            continue
        if parameter.dim() == 2:
            rows, cols = parameter.shape
            per_entry = {"float32": 4, "bf16": 2, "int8": 1}[weights]
            total += rows * cols * per_entry + (4 * rows if weights == "int8" else 0)
        else:
            total += 4 * parameter.numel()
    return total


# --- rounding the weights -------------------------------------------------------------------------


def round_weight(weight: Tensor, weights: str) -> tuple[Tensor, Tensor | None]:
    """``weight (R, C)`` in the precision ``weights``: (stored values, per-row scale or None).

    float32 and bf16 have no scale; int8 returns ``q (R, C) int8`` and ``scale (R,) float32``
    with ``weight ~ scale[:, None] * q``.
    """
    weight = weight.detach().float()
    if weights == "float32":
        return weight.contiguous(), None
    if weights == "bf16":
        return weight.to(torch.bfloat16).contiguous(), None
    scale = weight.abs().amax(dim=1).clamp_min(torch.finfo(torch.float32).tiny) / 127.0
    q = torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q.contiguous(), scale.contiguous()


def rounded(weight: Tensor, weights: str) -> Tensor:
    """``weight`` rounded to ``weights`` and back to float32: the values a stepper computes with."""
    values, scale = round_weight(weight, weights)
    return values.float() * scale[:, None] if scale is not None else values.float()


def _weight_names(module: nn.Module) -> list[str]:
    names = ["weight_ih", "weight_hh", "weight_hr"]
    return [n for n in names if getattr(module, n, None) is not None]


def with_rounded_weights(model: Any, weights: str) -> Any:
    """A copy of ``model`` whose weight matrices hold their ``weights``-rounded values."""
    model = copy.deepcopy(model)
    model.__dict__.pop("_stepping_cache", None)  # the original's prepared weights
    with torch.no_grad():
        for cell in model.rnn.cells:
            for name in _weight_names(cell):
                if parametrize.is_parametrized(cell, name):  # weight drop: off in eval mode
                    target = cell.parametrizations[name].original
                else:
                    target = getattr(cell, name)
                target.copy_(rounded(getattr(cell, name), weights))
        if model.projection is not None:
            model.projection.weight.copy_(rounded(model.projection.weight, weights))
        # the output layer may share the embedding's matrix, which stays as it is (a lookup)
        model.decoder.weight = nn.Parameter(rounded(model.decoder.weight, weights))
    return model


# --- the native stepper ---------------------------------------------------------------------------


def _split_state(state: State) -> list[tuple[Tensor, ...]]:
    """torch's layout ``(L, B, H)`` per component -> one tuple of ``(B, H)`` tensors per layer."""
    parts = as_tuple(state)
    return [tuple(p[layer] for p in parts) for layer in range(parts[0].shape[0])]


class _Matrix:
    """A weight matrix in one precision, as the kernel reads it (pointers kept once)."""

    def __init__(self, weight: Tensor, weights: str) -> None:
        self.values, self.scale = round_weight(weight, weights)
        self.kind = native_stepping.WEIGHT_KINDS[weights]
        self.rows, self.cols = weight.shape
        self.pointer = self.values.data_ptr()
        self.scale_pointer = self.scale.data_ptr() if self.scale is not None else None

    def args(self) -> tuple[int, int, int, int, int | None]:
        """``kind, rows, cols, weight, scale`` for ``matvec``."""
        return self.kind, self.rows, self.cols, self.pointer, self.scale_pointer


@dataclass
class _Layer:
    """One layer's weights as the kernel reads them (``input`` None where a table replaces it)."""

    cell: int  # the kernel's cell code
    hidden: int
    gates: int
    recurrent: _Matrix
    recurrent_bias: Tensor  # empty where the step adds none
    input: _Matrix | None
    input_bias: Tensor


@dataclass
class _Linear:
    matrix: _Matrix
    bias: Tensor | None


@dataclass
class _Prepared:
    """A model's weights rounded and laid out for the kernel, computed once per weight values."""

    key: tuple[Any, ...]
    layers: list[_Layer]
    table: Tensor | None  # (V, G) the first layer's input projection of every token
    embedding: Tensor  # (V, E), read where there is no table
    linears: list[_Linear]  # the optional projection, then the output layer


def _prepare(model: Any, weights: str) -> _Prepared:
    """The model's ``_Prepared`` weights, cached on the model while its parameters are unchanged
    (a parameter's storage and version counter say so: an optimiser step changes the version)."""
    key = (weights, *((p.data_ptr(), p._version) for p in model.parameters()))
    cache: dict[str, _Prepared] = model.__dict__.setdefault("_stepping_cache", {})
    cached = cache.get(weights)
    if cached is not None and cached.key == key:
        return cached
    cells: list[Cell] = list(model.rnn.cells)
    layers = []
    for cell in cells:
        kind = torch_kernel_name(cell)
        layers.append(
            _Layer(
                native_stepping.CELL_KINDS[kind], cell.hidden_size, cell.gate_size,
                _Matrix(cell.weight_hh, weights), _recurrent_bias(cell),
                _Matrix(cell.weight_ih, weights), _input_bias(cell),
            )
        )  # fmt: skip
    embedding = model.embedding.weight.detach().contiguous()
    table = None
    if embedding.shape[0] * cells[0].gate_size <= _MAX_TABLE_ELEMENTS:
        first = layers[0]
        table = (
            embedding @ rounded(cells[0].weight_ih, weights).t() + first.input_bias
        ).contiguous()
        first.input = None
    modules = ([model.projection] if model.projection is not None else []) + [model.decoder]
    linears = [
        _Linear(
            _Matrix(m.weight, weights),
            m.bias.detach().float().contiguous() if m.bias is not None else None,
        )
        for m in modules
    ]
    cache[weights] = _Prepared(key, layers, table, embedding, linears)
    return cache[weights]


class NativeStepper:
    """Batch-1 steps of a classic-cell language model through the C kernel, on float32 buffers.

    Per step: the first layer takes its input projection from a table row, every later layer one
    ``matvec`` for its input projection and one ``cell_step`` (recurrent product and update, in
    place on that layer's ``h`` and ``c``); then the optional projection and the output layer.
    These calls are written once into a program (rows of int64, ``run_program``) that the kernel
    runs in one call per step. The rounded weights are prepared once and shared by the steppers
    of a model; each stepper has its own state and buffers, so several may run at once.
    """

    @staticmethod
    def supports(model: Any) -> bool:
        """Whether every cell is classic and the model a float32 CPU one, and the kernel built."""
        weight = model.embedding.weight
        if weight.device.type != "cpu" or weight.dtype != torch.float32:
            return False
        for cell in model.rnn.cells:
            kernel = torch_kernel_name(cell)
            if kernel not in native_stepping.CELL_KINDS or getattr(cell, "proj_size", 0):
                return False
        return native_stepping.kernel() is not None

    def __init__(self, model: Any, weights: str = "float32") -> None:
        library = native_stepping.kernel()
        if library is None:
            raise RuntimeError("the native stepping kernel is not available")
        self.prepared = prepared = _prepare(model, weights)
        self.hidden = [torch.zeros(layer.hidden) for layer in prepared.layers]
        self.memory = [torch.zeros(layer.hidden) for layer in prepared.layers]
        self._buffers: list[Tensor] = []  # every buffer a pointer below points into

        # (operation, args) per kernel call; the first call's token-dependent pointer is 0 here
        calls: list[tuple[str, tuple[int | None, ...]]] = []
        for index, layer in enumerate(prepared.layers):
            scratch = torch.empty(layer.gates)
            self._buffers.append(scratch)
            if layer.input is None:
                u_pointer = None  # the table's row, set per step
            else:
                source = None if index == 0 else self.hidden[index - 1].data_ptr()
                u = torch.empty(layer.gates)
                self._buffers.append(u)
                args = (*layer.input.args(), source, layer.input_bias.data_ptr())
                calls.append(("matvec", (*args, u.data_ptr())))
                u_pointer = u.data_ptr()
            bias = layer.recurrent_bias.data_ptr() if layer.recurrent_bias.numel() else None
            calls.append(
                (
                    "cell_step",
                    (layer.cell, layer.recurrent.kind, layer.hidden, layer.recurrent.pointer,
                     layer.recurrent.scale_pointer, bias, u_pointer,
                     self.hidden[index].data_ptr(), self.memory[index].data_ptr(),
                     scratch.data_ptr()),
                )
            )  # fmt: skip
        features = self.hidden[-1]
        for linear in prepared.linears:
            out = torch.empty(1, linear.matrix.rows)
            self._buffers.append(out)
            bias = linear.bias.data_ptr() if linear.bias is not None else None
            args = (*linear.matrix.args(), features.data_ptr(), bias, out.data_ptr())
            calls.append(("matvec", args))
            features = out
        self.logits = features
        self._program = _program(calls)
        self._run = functools.partial(
            library.run_program,
            len(calls),
            self._program.data_ptr(),
            # where the token's row goes in the first call: cell_step's u, or matvec's x
            7 if prepared.table is not None else 6,
        )
        rows = prepared.table if prepared.table is not None else prepared.embedding
        self._first_row, self._row_bytes = rows.data_ptr(), rows.stride(0) * rows.element_size()
        self._vocabulary = rows.shape[0]  # rows stays alive in self.prepared

    def start(self, state: State) -> None:
        for layer, parts in enumerate(_split_state(state)):
            self.hidden[layer].copy_(parts[0].reshape(-1))
            if len(parts) > 1:
                self.memory[layer].copy_(parts[1].reshape(-1))

    def step(self, token_id: int) -> Tensor:
        if not 0 <= token_id < self._vocabulary:
            raise IndexError(f"token id {token_id} is not in 0..{self._vocabulary - 1}")
        self._run(self._first_row + token_id * self._row_bytes)
        return self.logits


def _program(calls: list[tuple[str, tuple[int | None, ...]]]) -> Tensor:
    """The kernel's ``run_program`` rows for ``calls`` ((operation, args) with pointers as ints,
    None for NULL): ``(len(calls), PROGRAM_WIDTH)`` int64."""
    program = torch.zeros(len(calls), native_stepping.PROGRAM_WIDTH, dtype=torch.int64)
    for row, (operation, args) in enumerate(calls):
        values = [native_stepping.OPERATIONS[operation], *(a or 0 for a in args)]
        program[row, : len(values)] = torch.tensor(values, dtype=torch.int64)
    return program


class Drawer:
    """Draws a token from batch-1 logits ``(1, V)`` at one temperature, as ``sample_next`` does
    without top-k or top-p, in one call of the kernel (``draw_token``).

    The uniform comes from ``generator`` as ``sample_next`` takes it (one ``torch.rand`` value),
    so a seed gives the same tokens, except where the uniform falls within float32 rounding of a
    boundary of the CDF (torch and the kernel round the softmax's sums differently). After a step
    has streamed the weights through the caches, ``sample_next``'s handful of torch operations
    take 70-100 us; this takes a few.
    """

    @staticmethod
    def make(
        temperature: float,
        top_k: int,
        top_p: float,
        generator: torch.Generator | None,
        device: torch.device | str = "cpu",
    ) -> Drawer | None:
        """A drawer for these settings and logits on ``device``, or None where ``sample_next``
        must draw (greedy, top-k, top-p, logits off the CPU, or no kernel)."""
        if temperature <= 0 or top_k > 0 or top_p < 1.0 or torch.device(device).type != "cpu":
            return None
        if native_stepping.kernel() is None:
            return None
        return Drawer(temperature, generator)

    def __init__(self, temperature: float, generator: torch.Generator | None) -> None:
        self._draw = native_stepping.kernel().draw_token
        self.generator = generator
        self._temperature = ctypes.c_float(temperature)
        self._uniform = torch.empty(1)
        self._token = ctypes.c_int64()
        self._pointers = (
            ctypes.addressof(self._temperature),
            self._uniform.data_ptr(),
            ctypes.addressof(self._token),
        )

    def draw(self, logits: Tensor) -> int:
        """The token drawn from ``logits (1, V)`` (a float CPU tensor; copied where it is not
        contiguous float32)."""
        if logits.dtype != torch.float32 or not logits.is_contiguous():
            logits = logits.float().contiguous()
        torch.rand(1, generator=self.generator, out=self._uniform)
        self._draw(logits.data_ptr(), logits.shape[-1], *self._pointers)
        return self._token.value


def _input_bias(cell: Cell) -> Tensor:
    """The bias ``cell.project`` adds (``(G,)``; zeros for a cell without biases)."""
    zeros = cell.weight_ih.new_zeros(1, 1, cell.input_size)
    return cell.project(zeros).reshape(-1).detach().contiguous()


def _recurrent_bias(cell: Cell) -> Tensor:
    """What the step adds to the recurrent product: the GRU's ``b_hn`` in the n part (``(3H,)``),
    empty for the other cells (their biases are all in ``project``)."""
    if torch_kernel_name(cell) == "gru" and cell.bias:
        hsz = cell.hidden_size
        return torch.cat([torch.zeros(2 * hsz), cell.bias_hh.detach()[2 * hsz :]]).contiguous()
    return torch.empty(0)


# --- many streams at once ------------------------------------------------------------------------


class BatchStepper:
    """Steps ``B`` independent streams together: one token per stream per step, ``(B,)`` ids ->
    logits ``(B, V)``, through each cell's own ``project`` and ``step`` (every cell kind).

    The first layer's input projection comes from the token table, as at batch 1. ``keep(rows)``
    drops the other streams (one that has all its tokens), so later steps compute only the rest.
    While a single stream is left, it steps through ``NativeStepper`` where the model has one
    (batch-1 speed). The model must stay in eval mode while stepping.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.cells: list[Cell] = list(model.rnn.cells)
        self.embedding = model.embedding.weight
        first = self.cells[0]
        self.table = None
        if self.embedding.shape[0] * first.gate_size <= _MAX_TABLE_ELEMENTS:
            self.table = first.project(self.embedding.unsqueeze(0)).squeeze(0)  # (V, G)
        self.projection, self.decoder = model.projection, model.decoder
        self.states: list[State] = []
        self.native: NativeStepper | None = None

    def start(self, state: State) -> None:
        """Continue from ``state`` in the model's layout (``(L, B, H)`` per component)."""
        self.native = None
        if as_tuple(state)[0].shape[1] == 1 and NativeStepper.supports(self.model):
            self.native = NativeStepper(self.model)
            self.native.start(state)
        else:
            self.states = [from_tuple(parts) for parts in _split_state(state)]

    def step(self, token_ids: Tensor) -> Tensor:
        """``token_ids (B,)`` -> the next tokens' logits ``(B, V)``."""
        if self.native is not None:
            return self.native.step(int(token_ids[0])).clone()
        if self.table is not None:
            u = self.table[token_ids]
        else:
            u = self.cells[0].project(self.embedding[token_ids].unsqueeze(1)).squeeze(1)
        states, x = [], u
        for index, (cell, state) in enumerate(zip(self.cells, self.states, strict=True)):
            if index:  # u: this layer's input projection of the layer below's output
                u = cell.project(x.unsqueeze(1)).squeeze(1)
            x, state = cell.step(u, state)
            states.append(state)
        self.states = states
        features = self.projection(x) if self.projection is not None else x
        return self.decoder(features)

    def hidden(self) -> Tensor:
        """Every layer's ``h``, layer-major: ``(B, L * H)``."""
        if self.native is not None:
            return torch.cat(self.native.hidden)[None]
        return torch.cat([as_tuple(state)[0] for state in self.states], dim=1)

    def keep(self, rows: Tensor) -> None:
        """Keep only the streams ``rows`` (int64 indices), in that order."""
        if self.native is not None:  # one stream already: nothing to drop but itself
            if len(rows) == 0:
                self.native, self.states = None, []
            return
        self.states = [from_tuple(tuple(p[rows] for p in as_tuple(s))) for s in self.states]
        if len(rows) == 1:
            parts = zip(*(as_tuple(s) for s in self.states), strict=True)
            self.start(from_tuple(tuple(torch.stack(p) for p in parts)))


# --- the torch stepper ----------------------------------------------------------------------------

LayerStep = Callable[[Any, State], tuple[Tensor, State]]  # (input, state) -> (h (1, H), state)


class TorchStepper:
    """Batch-1 steps through torch: torch's fused cell functions where exact, else the cells' own
    ``project`` and ``step``."""

    def __init__(self, model: Any) -> None:
        cells: list[Cell] = list(model.rnn.cells)
        embedding = model.embedding.weight
        first = cells[0]
        if embedding.shape[0] * first.gate_size <= _MAX_TABLE_ELEMENTS:
            table = first.project(embedding.unsqueeze(0)).squeeze(0)  # (V, G)
            self.layers: list[LayerStep] = [_table_step(first, table)]
        else:
            self.layers = [_embedding_step(first, embedding)]
        self.layers += [_cell_step(cell) for cell in cells[1:]]
        self.projection = model.projection
        self.decoder_weight, self.decoder_bias = model.decoder.weight, model.decoder.bias
        self.states: list[State] = []

    def start(self, state: State) -> None:
        self.states = [from_tuple(parts) for parts in _split_state(state)]

    def step(self, token_id: int) -> Tensor:
        x: Any = token_id
        new_states = []
        for layer, state in zip(self.layers, self.states, strict=True):
            x, state = layer(x, state)
            new_states.append(state)
        self.states = new_states
        if self.projection is not None:
            x = self.projection(x)
        return F.linear(x, self.decoder_weight, self.decoder_bias)


def _table_step(cell: Cell, table: Tensor) -> LayerStep:
    """First layer from the token's precomputed input projection ``table[token_id] (G,)``.

    For the classic cells, torch's fused cell function does the rest in one call: the projection
    goes in as its input bias, and its input product is made empty (a ``(1, 1)`` zero input times
    a ``(G, 1)`` zero weight), so only the recurrent product is computed.
    """
    kernel = torch_kernel_name(cell)
    if kernel is None or (kernel == "lstm" and cell.proj_size):

        def generic_step(token_id: int, state: State) -> tuple[Tensor, State]:
            return cell.step(table[token_id].unsqueeze(0), state)

        return generic_step

    no_input, no_weight = table.new_zeros(1, 1), table.new_zeros(table.shape[1], 1)
    weight_hh = cell.weight_hh
    if kernel == "lstm":

        def lstm_step(token_id: int, state: State) -> tuple[Tensor, State]:
            h, c = torch.lstm_cell(no_input, state, no_weight, weight_hh, table[token_id], None)
            return h, (h, c)

        return lstm_step

    # GRU: project() folded the r and z parts of b_hh into the table; b_hn stays recurrent.
    recurrent_bias = None
    if kernel == "gru" and cell.bias:
        hsz = cell.hidden_size
        recurrent_bias = torch.cat(
            [torch.zeros_like(cell.bias_hh[: 2 * hsz]), cell.bias_hh[2 * hsz :]]
        )
    function = {"gru": torch.gru_cell, "rnn_tanh": torch.rnn_tanh_cell}.get(
        kernel, torch.rnn_relu_cell
    )

    def fused_step(token_id: int, state: State) -> tuple[Tensor, State]:
        h = function(no_input, state, no_weight, weight_hh, table[token_id], recurrent_bias)
        return h, h

    return fused_step


def _embedding_step(cell: Cell, embedding: Tensor) -> LayerStep:
    """First layer for large vocabularies: look up the embedding, then a full cell step."""
    inner = _cell_step(cell)

    def step(token_id: int, state: State) -> tuple[Tensor, State]:
        return inner(embedding[token_id].unsqueeze(0), state)

    return step


def _cell_step(cell: Cell) -> LayerStep:
    """``x (1, I), state -> (h (1, H_out), state)`` with torch's fused cell function if exact."""
    kernel = torch_kernel_name(cell)
    if kernel == "lstm" and not cell.proj_size:
        weights = _cell_weights(cell)

        def lstm_step(x: Tensor, state: State) -> tuple[Tensor, State]:
            h, c = torch.lstm_cell(x, state, *weights)
            return h, (h, c)

        return lstm_step
    if kernel in ("gru", "rnn_tanh", "rnn_relu"):
        function = {"gru": torch.gru_cell, "rnn_tanh": torch.rnn_tanh_cell}.get(
            kernel, torch.rnn_relu_cell
        )
        weights = _cell_weights(cell)

        def fused_step(x: Tensor, state: State) -> tuple[Tensor, State]:
            h = function(x, state, *weights)
            return h, h

        return fused_step

    def generic_step(x: Tensor, state: State) -> tuple[Tensor, State]:
        return cell.step(cell.project(x.unsqueeze(1)).squeeze(1), state)

    return generic_step


def _cell_weights(cell: Cell) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """``(weight_ih, weight_hh, bias_ih, bias_hh)`` in torch's layout, read once (eval mode)."""
    if cell.bias:
        return cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh
    return cell.weight_ih, cell.weight_hh, None, None
