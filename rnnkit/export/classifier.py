"""The classifier's graph: a padded batch of sequences and their lengths in, class logits out."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.export.graph import Graph
from rnnkit.models import SequenceClassifier


class ClassifierForward(nn.Module):
    """``inputs (B, T)`` token ids or ``(B, T, F)`` features, ``lengths (B,)`` -> ``(logits
    (B, K), pooling weights (B, T))``: ``SequenceClassifier.forward_with_weights`` (the weights
    are zeros unless the model pools with attention)."""

    def __init__(self, model: SequenceClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        logits, weights = self.model.forward_with_weights(inputs, lengths)
        if weights is None:
            weights = logits.new_zeros(inputs.shape[0], inputs.shape[1])
        return logits, weights


def classifier_graphs(model: SequenceClassifier, batch: int = 2, steps: int = 7) -> list[Graph]:
    """The one graph of a classify run (text, numeric or audio: features after the run's
    scaler or feature extraction)."""
    if model.embedding is not None:
        inputs = torch.randint(0, model.embedding.num_embeddings, (batch, steps))
        described = "token ids (B, T)"
    else:
        inputs = torch.randn(batch, steps, model.rnn.input_size)
        described = "features (B, T, F)"
    lengths = torch.tensor([steps] + [max(1, steps - 2)] * (batch - 1))
    return [
        Graph(
            name="model",
            module=ClassifierForward(model),
            inputs={"inputs": inputs, "lengths": lengths},
            outputs=("logits", "weights"),
            axes={"inputs": {0: "batch", 1: "time"}, "lengths": {0: "batch"}},
            summary=f"{described} and lengths (B,) -> class logits (B, K) and pooling weights "
            "(B, T)",
        )
    ]
