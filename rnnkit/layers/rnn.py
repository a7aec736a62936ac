"""``RNN``: a stack of recurrent layers over any cell, a drop-in replacement for ``nn.LSTM``.

Stacked, bidirectional, residual, with dropout (plain or variational) between layers, weight drop
on the recurrent weights and zoneout; masking of padded batches; state in torch's layout so a
stream can be fed chunk by chunk. Weights move to and from ``torch.nn.RNN/LSTM/GRU`` by copying.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit import cells as cell_module
from rnnkit.cells.base import Cell, State, zero_state_components
from rnnkit.layers.dropout import WeightDrop, dropout
from rnnkit.layers.recurrent import (
    DIRECTION_BACKENDS,
    as_tuple,
    check_input,
    from_tuple,
    run_direction,
)
from rnnkit.layers.sequences import check_lengths, lengths_to_mask
from rnnkit.layers.torch_kernels import run_torch_layer, torch_kernel_name

# cell name -> (class name in rnnkit.cells, options it implies)
CELL_NAMES: dict[str, tuple[str, dict[str, Any]]] = {
    "rnn": ("ElmanCell", {"nonlinearity": "tanh"}),
    "rnn_relu": ("ElmanCell", {"nonlinearity": "relu"}),
    "lstm": ("LSTMCell", {}),
    "gru": ("GRUCell", {}),
    "ln_lstm": ("LayerNormLSTMCell", {}),
    "ln_gru": ("LayerNormGRUCell", {}),
    "mingru": ("MinGRUCell", {}),
    "minlstm": ("MinLSTMCell", {}),
}
# cells over frames (state (B, C, H, W), flattened between cell and layer): they need
# ``image_size`` among the cell options, so the sequence tasks' ``--cell`` does not list them
IMAGE_CELL_NAMES: dict[str, tuple[str, dict[str, Any]]] = {
    "conv_lstm": ("ConvLSTMCell", {}),
    "conv_gru": ("ConvGRUCell", {}),
}
BACKENDS = ("auto", *DIRECTION_BACKENDS)
_TORCH_MODES = {"RNN_TANH": "rnn", "RNN_RELU": "rnn_relu", "LSTM": "lstm", "GRU": "gru"}


def resolve_cell(cell: str | Callable[..., Cell]) -> tuple[Callable[..., Cell], dict[str, Any]]:
    """A cell name or class -> (factory of ``(input_size, hidden_size, **options)``, options)."""
    if isinstance(cell, str):
        names = {**CELL_NAMES, **IMAGE_CELL_NAMES}
        if cell not in names:
            raise ValueError(f"cell must be one of {sorted(names)} or a Cell class, got {cell!r}")
        class_name, implied = names[cell]
        return getattr(cell_module, class_name), dict(implied)
    if callable(cell):
        return cell, {}
    raise TypeError(f"cell must be a name or a Cell class, got {type(cell).__name__}")


class RNN(nn.Module):
    """A multi-layer, optionally bidirectional recurrent network over any cell.

    Args:
        cell: a name (``"rnn"``, ``"rnn_relu"``, ``"lstm"``, ``"gru"``, ``"ln_lstm"``, ``"ln_gru"``,
            ``"mingru"``, ``"minlstm"``, ``"conv_lstm"``, ``"conv_gru"``) or a class following the
            cell contract. The convolutional cells take ``image_size=(H, W)`` and
            ``kernel_size``; their inputs, outputs and states are frames flattened in ``C, H, W``
            order (``input_size = C_in * H * W``, ``hidden_size`` = channels), see
            ``rnnkit.cells.convolutional``.
        input_size: features per step of the input, ``I``.
        hidden_size: the cell's hidden size, ``H``.
        num_layers: stacked layers ``L``.
        bidirectional: add a reverse direction per layer (``D = 2``); outputs are concatenated.
        dropout: dropout on each layer's output except the last.
        residual: add each layer's input to its output, from the second layer on.
        batch_first: inputs and outputs are ``(B, T, F)``; otherwise ``(T, B, F)``.
        backend: ``"auto"`` (the fastest exact one), ``"fused"``, ``"loop"``, ``"compiled"``,
            ``"scan"``, ``"traced"`` (for ``torch.export``: ``rnnkit.layers.recurrent``).
        variational: the between-layer dropout uses one mask per sequence for every step.
        weight_drop: DropConnect probability on every recurrent matrix ``weight_hh`` (AWD-LSTM).
        zoneout: probability that a state unit keeps its previous value (training; loop backends).
        **cell_options: for the cell (``proj_size``, ``reset_after``, ``bias``, ``init``, ...).

    Forward: ``x (B, T, I)``, optional ``state`` and ``lengths (B,)`` ->
    ``(output (B, T, D * H_out), state)``. State follows torch: a tensor ``(L * D, B, H)``, or for
    an LSTM the pair ``(h, c)``. Outputs past a sequence's length are zero; final states are those
    at each sequence's last real step.
    """

    def __init__(
        self,
        cell: str | Callable[..., Cell],
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        residual: bool = False,
        batch_first: bool = True,
        backend: str = "auto",
        variational: bool = False,
        weight_drop: float = 0.0,
        zoneout: float = 0.0,
        **cell_options: Any,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        for name, value in [
            ("dropout", dropout),
            ("weight_drop", weight_drop),
            ("zoneout", zoneout),
        ]:
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        factory, implied = resolve_cell(cell)
        options = {**implied, **cell_options}
        self.cell_name = cell if isinstance(cell, str) else getattr(cell, "__name__", "custom")
        self.cell_options = options
        self.input_size, self.hidden_size = input_size, hidden_size
        self.num_layers, self.bidirectional = num_layers, bidirectional
        self.num_directions = 2 if bidirectional else 1
        self.dropout, self.residual, self.batch_first = dropout, residual, batch_first
        self.backend, self.variational = backend, variational
        self.weight_drop, self.zoneout = weight_drop, zoneout

        self.cells = nn.ModuleList()
        layer_input = input_size
        for _ in range(num_layers):
            for _ in range(self.num_directions):
                self.cells.append(factory(layer_input, hidden_size, **options))
            layer_input = self.num_directions * self.cells[-1].output_size
        if weight_drop:
            for c in self.cells:
                parametrize.register_parametrization(c, "weight_hh", WeightDrop(weight_drop))

    # --- shapes ---------------------------------------------------------------------------------

    @property
    def output_size(self) -> int:
        """Features per output step: ``D * H_out``."""
        return self.num_directions * self.cells[0].output_size

    @property
    def state_sizes(self) -> tuple[int, ...]:
        return self.cells[0].state_sizes

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        """Zeros in torch's layout: ``(L * D, B, S)`` per state component."""
        shape = (len(self.cells), batch_size)
        return from_tuple(
            zero_state_components(shape, self.state_sizes, device=device, dtype=dtype)
        )

    # --- forward --------------------------------------------------------------------------------

    def uses_torch_kernels(self) -> bool:
        """Whether the configuration is one torch's fused kernels compute exactly."""
        kernels = {torch_kernel_name(c) for c in self.cells}
        return None not in kernels and len(kernels) == 1 and not self.zoneout

    def forward(
        self, x: Tensor, state: State | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, State]:
        if not self.batch_first and isinstance(x, Tensor):
            x = x.transpose(0, 1)
        check_input(x, self.input_size)
        batch, steps = x.shape[0], x.shape[1]
        if lengths is not None:
            lengths = check_lengths(lengths, batch, steps)
            if not torch.compiler.is_exporting() and bool((lengths == steps).all()):
                lengths = None  # nothing is padded: the unmasked path is exact and faster
        parts = self._check_state(state, batch, x)

        # one weight-drop mask per forward pass, shared by all steps; torch.export traces without
        # the cache (filling it is a side effect it refuses), and weight drop is off in eval mode
        cache = nullcontext() if torch.compiler.is_exporting() else parametrize.cached()
        with cache:
            if self.backend in ("auto", "fused") and self.uses_torch_kernels():
                output, finals = self._forward_torch(x, parts, lengths)
            else:
                output, finals = self._forward_cells(x, parts, lengths)

        if not self.batch_first:
            output = output.transpose(0, 1)
        return output, from_tuple(finals)

    def _check_state(self, state: State | None, batch: int, x: Tensor) -> tuple[Tensor, ...]:
        if state is None:
            return as_tuple(self.initial_state(batch, device=x.device, dtype=x.dtype))
        parts = as_tuple(state)
        expected = [(len(self.cells), batch, size) for size in self.state_sizes]
        actual = [tuple(p.shape) for p in parts]
        if len(parts) != len(expected) or actual != expected:
            want = expected[0] if len(expected) == 1 else tuple(expected)
            got = actual[0] if len(actual) == 1 else tuple(actual)
            raise ValueError(f"state must have shape {want}, got {got}")
        return parts

    def _between_layers(self, layer: int, layer_input: Tensor, output: Tensor, rows: Tensor | None):
        """Residual connection and dropout after ``layer``; ``rows``: packed row -> sequence."""
        if self.residual and layer > 0:
            output = output + layer_input
        if layer < self.num_layers - 1 and self.dropout and self.training:
            if self.variational:
                features = output.shape[-1]
                batch = output.shape[0] if rows is None else int(rows.max()) + 1
                mask = output.new_empty(batch, features).bernoulli_(1 - self.dropout)
                mask = mask / (1 - self.dropout)
                output = output * (mask.unsqueeze(1) if rows is None else mask[rows])
            else:
                output = dropout(output, self.dropout, True)
        return output

    def _forward_cells(
        self, x: Tensor, parts: tuple[Tensor, ...], lengths: Tensor | None
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        mask = None if lengths is None else lengths_to_mask(lengths, x.shape[1], device=x.device)
        finals: list[list[Tensor]] = [[] for _ in parts]
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                out, final = run_direction(
                    self.cells[index],
                    layer_input,
                    from_tuple(tuple(p[index] for p in parts)),
                    lengths=lengths,
                    mask=mask,
                    reverse=direction == 1,
                    backend=self.backend,
                    zoneout=self.zoneout,
                    training=self.training,
                )
                outputs.append(out)
                for store, value in zip(finals, as_tuple(final), strict=True):
                    store.append(value)
            output = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=-1)
            layer_input = self._between_layers(layer, layer_input, output, None)
        return layer_input, tuple(torch.stack(f) for f in finals)

    def _forward_torch(
        self, x: Tensor, parts: tuple[Tensor, ...], lengths: Tensor | None
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        rows = None
        layer_input: Tensor | PackedSequence = x
        if lengths is not None:
            layer_input = pack_padded_sequence(
                x, lengths.cpu(), batch_first=True, enforce_sorted=False
            )
            order = layer_input.sorted_indices.to(x.device)
            parts = tuple(p.index_select(1, order) for p in parts)
            rows = torch.cat([torch.arange(int(n)) for n in layer_input.batch_sizes]).to(x.device)
        finals: list[list[Tensor]] = [[] for _ in parts]
        d = self.num_directions
        for layer in range(self.num_layers):
            cells = list(self.cells[layer * d : (layer + 1) * d])
            layer_state = tuple(p[layer * d : (layer + 1) * d] for p in parts)
            output, final = run_torch_layer(cells, layer_input, layer_state, self.training)
            for store, value in zip(finals, final, strict=True):
                store.append(value)
            if isinstance(output, PackedSequence):
                data = self._between_layers(layer, layer_input.data, output.data, rows)
                layer_input = PackedSequence(
                    data, output.batch_sizes, output.sorted_indices, output.unsorted_indices
                )
            else:
                layer_input = self._between_layers(layer, layer_input, output, None)
        final_parts = tuple(torch.cat(f) for f in finals)
        if isinstance(layer_input, PackedSequence):
            unsort = layer_input.unsorted_indices.to(x.device)
            final_parts = tuple(p.index_select(1, unsort) for p in final_parts)
            layer_input, _ = pad_packed_sequence(
                layer_input, batch_first=True, total_length=x.shape[1]
            )
        return layer_input, final_parts

    # --- weights to and from torch --------------------------------------------------------------

    @classmethod
    def from_torch(cls, module: nn.RNNBase, **options: Any) -> RNN:
        """A copy of ``torch.nn.RNN/LSTM/GRU`` (any layers, directions, batch_first, proj_size)."""
        if not isinstance(module, nn.RNNBase) or module.mode not in _TORCH_MODES:
            raise TypeError(f"expected torch.nn.RNN, LSTM or GRU, got {type(module).__name__}")
        cell_options: dict[str, Any] = {"bias": module.bias}
        if module.mode == "LSTM" and module.proj_size:
            cell_options["proj_size"] = module.proj_size
        rnn = cls(
            _TORCH_MODES[module.mode],
            module.input_size,
            module.hidden_size,
            num_layers=module.num_layers,
            bidirectional=module.bidirectional,
            dropout=module.dropout,
            batch_first=module.batch_first,
            **cell_options,
            **options,
        )
        reference = next(module.parameters())
        rnn.to(device=reference.device, dtype=reference.dtype)
        with torch.no_grad():
            for suffix, cell in zip(rnn._torch_suffixes(), rnn.cells, strict=True):
                for param_name in _cell_param_names(cell):
                    getattr(cell, param_name).copy_(getattr(module, f"{param_name}{suffix}"))
        return rnn

    def to_torch(self) -> nn.RNNBase:
        """A ``torch.nn.RNN/LSTM/GRU`` with copies of these weights, where torch can express it."""
        if not self.uses_torch_kernels() or self.residual or self.variational or self.weight_drop:
            raise ValueError(
                "to_torch needs plain 'rnn', 'rnn_relu', 'lstm' or 'gru' (reset_after=True) cells "
                "without residual, variational dropout, weight drop or zoneout; "
                f"got cell {self.cell_name!r} with this configuration"
            )
        first = self.cells[0]
        kernel = torch_kernel_name(first)
        common = dict(
            input_size=self.input_size,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            bias=bool(first.bias),
            batch_first=self.batch_first,
            dropout=self.dropout,
            bidirectional=self.bidirectional,
        )
        if kernel == "lstm":
            module: nn.RNNBase = nn.LSTM(**common, proj_size=first.proj_size)
        elif kernel == "gru":
            module = nn.GRU(**common)
        else:
            module = nn.RNN(**common, nonlinearity="tanh" if kernel == "rnn_tanh" else "relu")
        reference = first.weight_ih
        module.to(device=reference.device, dtype=reference.dtype)
        with torch.no_grad():
            for suffix, cell in zip(self._torch_suffixes(), self.cells, strict=True):
                for param_name in _cell_param_names(cell):
                    getattr(module, f"{param_name}{suffix}").copy_(getattr(cell, param_name))
        return module

    def _torch_suffixes(self) -> list[str]:
        """torch's parameter-name suffix of each cell, in ``self.cells`` order."""
        return [
            f"_l{layer}" + ("_reverse" if direction else "")
            for layer in range(self.num_layers)
            for direction in range(self.num_directions)
        ]

    def extra_repr(self) -> str:
        parts = [f"{self.cell_name!r}", f"{self.input_size}", f"{self.hidden_size}"]
        if self.num_layers != 1:
            parts.append(f"num_layers={self.num_layers}")
        for name in ("bidirectional", "residual", "variational"):
            if getattr(self, name):
                parts.append(f"{name}=True")
        for name in ("dropout", "weight_drop", "zoneout"):
            if getattr(self, name):
                parts.append(f"{name}={getattr(self, name)}")
        if self.backend != "auto":
            parts.append(f"backend={self.backend!r}")
        return ", ".join(parts)


def _cell_param_names(cell: Cell) -> list[str]:
    names = ["weight_ih", "weight_hh"]
    if cell.bias:
        names += ["bias_ih", "bias_hh"]
    if getattr(cell, "weight_hr", None) is not None:
        names.append("weight_hr")
    return names
