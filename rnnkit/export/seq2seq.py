"""The encoder-decoder's two graphs: the encoder once per source, the decoder once per step.

The encoder graph returns the decoder's first state as named tensors, and the decoder-step graph
(``rnnkit.export.attention_decoder``, shared with caption) takes and returns it; the module doc
there says which tensors the state holds.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.export.attention_decoder import DecoderStateLayout, decoder_step_graph
from rnnkit.export.graph import Graph
from rnnkit.models import Seq2Seq


class Seq2SeqEncoder(nn.Module):
    """``source (B, S)`` ids, ``lengths (B,)`` -> the decoder's first state: ``Seq2Seq.encode``."""

    def __init__(self, model: Seq2Seq, layout: DecoderStateLayout) -> None:
        super().__init__()
        self.model, self.layout = model, layout

    def forward(self, source: Tensor, lengths: Tensor) -> tuple[Tensor, ...]:
        return self.layout.outputs(self.model.encode(source, lengths))


def seq2seq_graphs(model: Seq2Seq, batch: int = 2, steps: int = 6) -> list[Graph]:
    """The encoder graph and the decoder-step graph of a translate run."""
    source = torch.randint(4, model.source_embedding.num_embeddings, (batch, steps))
    lengths = torch.tensor([steps] + [max(1, steps - 2)] * (batch - 1))
    with torch.no_grad():
        example = model.encode(source, lengths)
    layout = DecoderStateLayout(example)
    encoder = Graph(
        name="encoder",
        module=Seq2SeqEncoder(model, layout),
        inputs={"source": source, "lengths": lengths},
        outputs=(*layout.names(), *layout.fixed_names()),
        axes={"source": {0: "batch", 1: "source"}, "lengths": {0: "batch"}},
        summary="source ids (B, S) and lengths (B,) -> the decoder's first state",
    )
    return [encoder, decoder_step_graph(model, example, memory_axis="source")]
