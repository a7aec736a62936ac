"""The classifier's graph: a padded batch of sequences and their lengths in, class logits out."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.export.graph import Graph
from rnnkit.models import SequenceClassifier
from rnnkit.models.classifier_ensemble import ClassifierEnsemble


class ClassifierForward(nn.Module):
    """``inputs (B, T)`` token ids (``(B, T, 1 + G)`` with n-grams) or ``(B, T, F)`` features,
    ``lengths (B,)`` -> ``(logits (B, K), pooling weights (B, T))``:
    ``SequenceClassifier.forward_with_weights`` (the weights are zeros unless the model pools
    with attention)."""

    def __init__(self, model: SequenceClassifier | ClassifierEnsemble) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        logits, weights = self.model.forward_with_weights(inputs, lengths)
        if weights is None:
            weights = logits.new_zeros(inputs.shape[0], inputs.shape[1])
        return logits, weights


def classifier_graphs(
    model: SequenceClassifier | ClassifierEnsemble, batch: int = 2, steps: int = 7
) -> list[Graph]:
    """The one graph of a classify run (text, numeric or audio: features after the run's
    scaler or feature extraction); an ensemble's graph averages its members' probabilities."""
    module = model
    if isinstance(model, ClassifierEnsemble):
        model = model.members[0]  # the members' common input
    if model.ngrams is not None:
        words = torch.randint(0, model.embedding.num_embeddings, (batch, steps, 1))
        grams = torch.randint(0, model.ngrams.embedding.num_embeddings, (batch, steps, 4))
        inputs = torch.cat([words, grams], dim=-1)
        described = "token ids, each followed by its character n-gram ids (B, T, 1 + G)"
    elif model.embedding is not None:
        inputs = torch.randint(0, model.embedding.num_embeddings, (batch, steps))
        described = "token ids (B, T)"
    else:
        inputs = torch.randn(batch, steps, model.rnn.input_size)
        described = "features (B, T, F)"
    if model.word_ngrams is not None:  # a hybrid: each token's uni- and bigram ids follow
        if inputs.dim() == 2:
            inputs = inputs.unsqueeze(-1)
        buckets = model.word_ngrams.num_embeddings
        inputs = torch.cat([inputs, torch.randint(0, buckets, (batch, steps, 2))], dim=-1)
        described = described[: described.rindex(" (")] + ", then its uni- and bigram ids"
    lengths = torch.tensor([steps] + [max(1, steps - 2)] * (batch - 1))
    return [
        Graph(
            name="model",
            module=ClassifierForward(module),
            inputs={"inputs": inputs, "lengths": lengths},
            outputs=("logits", "weights"),
            axes={"inputs": _input_axes(model), "lengths": {0: "batch"}},
            summary=f"{described} and lengths (B,) -> class logits (B, K) and pooling weights "
            "(B, T)",
        )
    ]


def _input_axes(model: SequenceClassifier) -> dict[int, str]:
    """The symbolic axes of the input: batch and time, and the n-grams per word where present."""
    axes = {0: "batch", 1: "time"}
    if model.ngrams is not None:
        axes[2] = "columns" if model.word_ngrams is not None else "ngrams"
    return axes
