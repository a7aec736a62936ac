"""The speech recognizer's graph: feature frames and their counts in, CTC log-probabilities out.

The frames are those of the run's feature extraction (``features.json``); CTC decoding (best
path or beam search with the run's language model) is the caller's.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.export.graph import Graph
from rnnkit.models import CTCRecognizer


class RecognizerForward(nn.Module):
    """``features (B, T, F)``, ``lengths (B,)`` -> ``(log_probs (B, T', V), out_lengths (B,))``
    with ``T' = ceil(T / k)``: ``CTCRecognizer.forward``."""

    def __init__(self, model: CTCRecognizer) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        return self.model(features, lengths)


def recognizer_graphs(model: CTCRecognizer, batch: int = 2, steps: int = 9) -> list[Graph]:
    """The one graph of a speech run."""
    features = torch.randn(batch, steps, model.num_features)
    lengths = torch.tensor([steps] + [max(1, steps - 3)] * (batch - 1))
    return [
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
