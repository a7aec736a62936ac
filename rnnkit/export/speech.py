"""The speech recognizer's graphs: feature frames in, CTC log-probabilities out.

``model`` reads whole utterances with their frame counts; a unidirectional model also exports
``stream``, which carries the recurrent state from chunk to chunk (``CTCRecognizer.stream_step``).
The frames are those of the run's feature extraction (``features.json``); CTC decoding (best
path or beam search with the run's language model) is the caller's.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.export.graph import (
    Graph,
    initial_state,
    join_state,
    state_axes,
    state_inputs,
    state_outputs,
)
from rnnkit.layers.recurrent import as_tuple
from rnnkit.models import CTCRecognizer
from rnnkit.models.speech import StreamState


class RecognizerForward(nn.Module):
    """``features (B, T, F)``, ``lengths (B,)`` -> ``(log_probs (B, T', V), out_lengths (B,))``
    with ``T' = ceil(T / k)``: ``CTCRecognizer.forward``."""

    def __init__(self, model: CTCRecognizer) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        return self.model(features, lengths)


class RecognizerStream(nn.Module):
    """``features (B, t * k, F)``, a whole number of stacks, and the state -> ``(log_probs
    (B, t, V), state)``: ``CTCRecognizer.stream_step`` with nothing pending (the caller keeps
    the frames of an unfinished stack for the next chunk)."""

    def __init__(self, model: CTCRecognizer) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        nothing_pending = features.new_zeros(features.shape[0], 0, features.shape[2])
        log_probs, after = self.model.stream_step(
            features, StreamState(nothing_pending, join_state(state))
        )
        return (log_probs, *as_tuple(after.rnn))


def recognizer_graphs(model: CTCRecognizer, batch: int = 2, steps: int = 9) -> list[Graph]:
    """``model``, and ``stream`` for a unidirectional recognizer."""
    features = torch.randn(batch, steps, model.num_features)
    lengths = torch.tensor([steps] + [max(1, steps - 3)] * (batch - 1))
    graphs = [
        Graph(
            name="model",
            module=RecognizerForward(model),
            inputs={"features": features, "lengths": lengths},
            outputs=("log_probs", "out_lengths"),
            axes={"features": {0: "batch", 1: "time"}, "lengths": {0: "batch"}},
            least={"time": model.subsample + 1},
            summary="feature frames (B, T, F) and their counts (B,) -> CTC log-probabilities "
            "(B, T', V) and their lengths (B,)",
        )
    ]
    if not model.bidirectional:
        state = initial_state(model.rnn, batch)
        chunk = torch.randn(batch, 3 * model.subsample, model.num_features)
        graphs.append(
            Graph(
                name="stream",
                module=RecognizerStream(model),
                inputs={"features": chunk, **state_inputs(state)},
                outputs=("log_probs", *state_outputs(state)),
                axes={"features": {0: "batch", 1: "time"}, **state_axes(state)},
                least={"time": model.subsample + 1},
                summary="a chunk of frames (B, t * k, F) and the state -> CTC log-probabilities "
                "(B, t, V) and the state",
            )
        )
    return graphs
