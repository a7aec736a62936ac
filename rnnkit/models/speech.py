"""Unaligned many-to-many: an acoustic model trained with CTC (Graves et al. 2006, 2013).

Feature frames ``(B, T, F)`` (log-mel or MFCC) are first shortened by *frame stacking*: every
``subsample`` consecutive frames are concatenated into one vector ``(B, ceil(T / k), k * F)``,
zero-padded at the end (zero is the mean of normalised features). Fewer steps make the recurrence
cheaper and suit CTC, whose outputs (characters) are much sparser than 10 ms frames. A deep,
by default bidirectional, ``rnnkit.RNN`` reads the stacked frames, and a linear layer scores the
labels at every step: index 0 is the CTC blank, 1..V-1 the characters.

A unidirectional model can also *stream*: ``stream_step`` takes frames as they arrive, keeps the
frames of an unfinished stack and the recurrent state between calls, and gives exactly the log
probabilities of one pass over the whole input (``finish_stream`` flushes the last partial stack).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.layers import RNN
from rnnkit.layers.dropout import dropout
from rnnkit.layers.recurrent import State
from rnnkit.models.config import KeepsArguments, check_fraction, constructor_arguments

BLANK = 0


def stack_frames(features: Tensor, factor: int) -> Tensor:
    """``(B, T, F) -> (B, ceil(T / factor), factor * F)``: consecutive frames side by side, the
    last group zero-padded."""
    batch, steps, width = features.shape
    # no negative floor division (ONNX divides integers truncating) and no branch on the
    # length (padding by zero steps changes nothing): an exported graph stacks any T
    padded_steps = (steps + factor - 1) // factor * factor
    features = F.pad(features, (0, 0, 0, padded_steps - steps))
    return features.reshape(batch, padded_steps // factor, factor * width)


def stacked_lengths(lengths: Tensor, factor: int) -> Tensor:
    """The lengths ``(B,)`` of frame sequences after ``stack_frames``: ``ceil(T / factor)``."""
    return torch.div(lengths + factor - 1, factor, rounding_mode="floor")


@dataclass
class StreamState:
    """What a stream carries between chunks: frames of an unfinished stack ``(B, t < k, F)``
    and the recurrent state (None before the first full stack)."""

    pending: Tensor
    rnn: State | None = None


class CTCRecognizer(KeepsArguments):
    """Frame stacking -> deep RNN -> linear layer to ``num_labels`` (blank first) log-probabilities.

    Args:
        num_features: features per input frame, ``F``.
        num_labels: output labels including the blank at index 0, ``V``.
        hidden_size: hidden units per direction.
        num_layers: stacked recurrent layers.
        cell: any cell name ``rnnkit.RNN`` accepts.
        bidirectional: read both directions (more accurate; cannot stream).
        subsample: frames stacked into one RNN step, ``k`` (1 keeps every frame).
        dropout: on the stacked input, between layers and before the output layer.
        **cell_options: passed to each cell.

    ``forward(features (B, T, F), lengths (B,) | None)`` ->
    ``(log_probs (B, T', V), out_lengths (B,))`` with ``T' = ceil(T / k)``; positions past a
    sequence's ``out_lengths`` are meaningless.
    """

    def __init__(
        self,
        num_features: int,
        num_labels: int,
        hidden_size: int = 256,
        num_layers: int = 3,
        cell: str = "lstm",
        bidirectional: bool = True,
        subsample: int = 2,
        dropout: float = 0.0,
        backend: str = "auto",
        **cell_options: Any,
    ) -> None:
        super().__init__()
        if num_labels < 2:
            raise ValueError(
                f"num_labels must count the blank and at least one label, got {num_labels}"
            )
        if subsample < 1:
            raise ValueError(f"subsample must be >= 1, got {subsample}")
        check_fraction("dropout", dropout)
        self._config = constructor_arguments(CTCRecognizer.__init__, locals())
        self.num_features, self.num_labels = num_features, num_labels
        self.subsample, self.dropout, self.bidirectional = subsample, dropout, bidirectional
        self.rnn = RNN(
            cell,
            subsample * num_features,
            hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=dropout,
            backend=backend,
            **cell_options,
        )
        self.head = torch.nn.Linear(self.rnn.output_size, num_labels)

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """Output steps ``(B,)`` for input frame counts ``lengths (B,)``."""
        return stacked_lengths(lengths, self.subsample)

    def forward(self, features: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if features.dim() != 3 or features.shape[-1] != self.num_features:
            raise ValueError(
                f"features must be (B, T, {self.num_features}), got {tuple(features.shape)}"
            )
        if lengths is None:
            lengths = torch.full((features.shape[0],), features.shape[1], dtype=torch.long)
        out_lengths = self.output_lengths(lengths.cpu())
        x = dropout(stack_frames(features, self.subsample), self.dropout, self.training)
        outputs, _ = self.rnn(x, lengths=out_lengths)
        return self._log_probs(outputs), out_lengths

    def _log_probs(self, outputs: Tensor) -> Tensor:
        logits = self.head(dropout(outputs, self.dropout, self.training))
        return torch.log_softmax(logits.float(), dim=-1)

    # --- streaming ------------------------------------------------------------------------------

    def start_stream(self, batch_size: int = 1) -> StreamState:
        """The state of a stream before its first frame."""
        if self.bidirectional:
            raise ValueError("a bidirectional model reads the whole input; it cannot stream")
        weight = self.head.weight
        pending = weight.new_zeros(batch_size, 0, self.num_features)
        return StreamState(pending)

    def stream_step(self, features: Tensor, state: StreamState) -> tuple[Tensor, StreamState]:
        """Feed frames ``(B, t, F)`` (any ``t >= 0``); return the log-probabilities ``(B, t', V)``
        of the stacks they complete, and the new state."""
        frames = torch.cat([state.pending, features], dim=1)
        complete = frames.shape[1] // self.subsample * self.subsample
        pending = frames[:, complete:]
        if complete == 0:
            return frames.new_zeros(frames.shape[0], 0, self.num_labels), StreamState(
                pending, state.rnn
            )
        x = stack_frames(frames[:, :complete], self.subsample)
        outputs, rnn_state = self.rnn(x, state.rnn)
        return self._log_probs(outputs), StreamState(pending, rnn_state)

    def finish_stream(self, state: StreamState) -> Tensor:
        """The log-probabilities ``(B, 0 or 1, V)`` of the last, zero-padded partial stack."""
        if state.pending.shape[1] == 0:
            return state.pending.new_zeros(state.pending.shape[0], 0, self.num_labels)
        outputs, _ = self.rnn(stack_frames(state.pending, self.subsample), state.rnn)
        return self._log_probs(outputs)
