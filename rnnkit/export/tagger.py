"""The tagger's graph: a padded batch of word ids (and their characters) in, tag logits out."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.export.graph import Graph
from rnnkit.models import SequenceTagger


class TaggerForward(nn.Module):
    """``words (B, T)`` ids, ``lengths (B,)`` and, for a tagger with character features,
    ``chars (B, T, C)`` ids and ``char_lengths (B, T)`` -> tag logits ``(B, T, K)``:
    ``SequenceTagger.forward``."""

    def __init__(self, model: SequenceTagger) -> None:
        super().__init__()
        self.model = model

    def forward(self, words: Tensor, lengths: Tensor, *chars: Tensor) -> tuple[Tensor]:
        return (self.model(words, lengths, *chars),)


def tagger_graphs(model: SequenceTagger, batch: int = 2, steps: int = 7) -> list[Graph]:
    """The one graph of a tag run."""
    words = torch.randint(1, model.embedding.num_embeddings, (batch, steps))
    lengths = torch.tensor([steps] + [max(1, steps - 2)] * (batch - 1))
    inputs = {"words": words, "lengths": lengths}
    axes = {"words": {0: "batch", 1: "time"}, "lengths": {0: "batch"}}
    summary = "word ids (B, T) and lengths (B,)"
    if model.chars is not None:
        letters = 5
        inputs["chars"] = torch.randint(
            1, model.chars.embedding.num_embeddings, (*words.shape, letters)
        )
        char_lengths = torch.randint(1, letters + 1, words.shape)
        char_lengths[1:, -2:] = 0  # the padded word slots of the shorter sentences
        inputs["char_lengths"] = char_lengths
        axes["chars"] = {0: "batch", 1: "time", 2: "letters"}
        axes["char_lengths"] = {0: "batch", 1: "time"}
        summary += ", character ids (B, T, C) and word lengths (B, T)"
    return [
        Graph(
            name="model",
            module=TaggerForward(model),
            inputs=inputs,
            outputs=("logits",),
            axes=axes,
            summary=f"{summary} -> tag logits (B, T, K)",
        )
    ]
