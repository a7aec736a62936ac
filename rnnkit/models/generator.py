"""One-to-many: a fixed vector sets the initial state, and the RNN unrolls a sequence from it.

The condition ``z (B, K)`` (a class's one-hot code, parameters such as a frequency, or an encoder's
output) passes through one linear layer with ``tanh`` to give every layer's initial hidden state
(and, for an LSTM, its cell state). At each step the RNN reads its previous output (zeros at the
first step) and, with ``condition_inputs=True``, the condition again; a linear layer maps its output
to the step's value ``(B, O)``.

Training feeds the true previous values (teacher forcing, one parallel pass); ``generate`` feeds
the model's own outputs back one step at a time.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.cells.base import State
from rnnkit.layers import RNN
from rnnkit.models.config import ConfigFromAttributes


class ConditionalGenerator(ConfigFromAttributes, nn.Module):
    """Generate ``(B, T, O)`` sequences from condition vectors ``(B, K)``.

    Args:
        condition_size: ``K``.
        output_size: ``O``, values per generated step.
        hidden_size, num_layers, cell: of the ``rnnkit.RNN``.
        condition_inputs: also give the condition to the RNN at every step.
    """

    config_names = (
        "condition_size",
        "output_size",
        "hidden_size",
        "num_layers",
        "cell",
        "condition_inputs",
    )

    def __init__(
        self,
        condition_size: int,
        output_size: int,
        hidden_size: int = 64,
        num_layers: int = 1,
        cell: str = "gru",
        condition_inputs: bool = True,
    ) -> None:
        super().__init__()
        self.condition_size, self.output_size = condition_size, output_size
        self.hidden_size, self.num_layers, self.cell = hidden_size, num_layers, cell
        self.condition_inputs = condition_inputs
        input_size = output_size + (condition_size if condition_inputs else 0)
        self.rnn = RNN(cell, input_size, hidden_size, num_layers=num_layers)
        sizes = self.rnn.state_sizes
        self.to_state = nn.Linear(condition_size, num_layers * sum(sizes))
        self.to_output = nn.Linear(self.rnn.output_size, output_size)

    def initial_state(self, condition: Tensor) -> State:
        """The RNN state the condition ``(B, K)`` sets: each part ``(num_layers, B, size)``."""
        if condition.dim() != 2 or condition.shape[1] != self.condition_size:
            raise ValueError(f"condition must be (B, {self.condition_size}), got {condition.shape}")
        flat = torch.tanh(self.to_state(condition))  # (B, L * sum(sizes))
        parts, offset = [], 0
        for size in self.rnn.state_sizes:
            width = self.num_layers * size
            piece = flat[:, offset : offset + width].reshape(-1, self.num_layers, size)
            parts.append(piece.transpose(0, 1).contiguous())
            offset += width
        return parts[0] if len(parts) == 1 else tuple(parts)

    def _inputs(self, previous: Tensor, condition: Tensor) -> Tensor:
        if not self.condition_inputs:
            return previous
        repeated = condition.unsqueeze(1).expand(-1, previous.shape[1], -1)
        return torch.cat([previous, repeated], dim=-1)

    def forward(self, condition: Tensor, targets: Tensor) -> Tensor:
        """Teacher-forced outputs ``(B, T, O)`` predicting ``targets (B, T, O)`` step by step."""
        previous = torch.cat([torch.zeros_like(targets[:, :1]), targets[:, :-1]], dim=1)
        output, _ = self.rnn(self._inputs(previous, condition), self.initial_state(condition))
        return self.to_output(output)

    @torch.no_grad()
    def generate(self, condition: Tensor, steps: int) -> Tensor:
        """Unroll ``steps`` values ``(B, steps, O)`` from the condition alone."""
        state = self.initial_state(condition)
        value = condition.new_zeros(condition.shape[0], 1, self.output_size)
        values = []
        for _ in range(steps):
            output, state = self.rnn(self._inputs(value, condition), state)
            value = self.to_output(output)
            values.append(value)
        return torch.cat(values, dim=1)
