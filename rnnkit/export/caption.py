"""The captioner's two graphs: the encoder once per image (or keyword list), the decoder once
per step (``rnnkit.export.attention_decoder``, shared with translate).

An image run's encoder takes images normalised as the run's ``images.json`` says (``(pixel /
255 - mean) / std`` per channel, after scaling and centre-cropping to its size); its memory has a
fixed number of positions, the CNN's grid, so only the batch axis is symbolic. A keywords run's
encoder takes keyword ids ``(B, K)`` (``keywords.json``) and their lengths, ``K`` symbolic.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.export.attention_decoder import DecoderStateLayout, decoder_step_graph
from rnnkit.export.graph import Graph
from rnnkit.models.captioner import Captioner


class ImageCaptionEncoder(nn.Module):
    """``images (B, C, S, S)``, normalised -> the decoder's first state: ``Captioner.encode``."""

    def __init__(self, model: Captioner, layout: DecoderStateLayout) -> None:
        super().__init__()
        self.model, self.layout = model, layout

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        return self.layout.outputs(self.model.encode(images))


class KeywordCaptionEncoder(nn.Module):
    """``keywords (B, K)`` ids, ``lengths (B,)`` -> the decoder's first state:
    ``Captioner.encode``."""

    def __init__(self, model: Captioner, layout: DecoderStateLayout) -> None:
        super().__init__()
        self.model, self.layout = model, layout

    def forward(self, keywords: Tensor, lengths: Tensor) -> tuple[Tensor, ...]:
        return self.layout.outputs(self.model.encode(keywords, lengths))


def captioner_graphs(model: Captioner, batch: int = 2, count: int = 4) -> list[Graph]:
    """The encoder graph and the decoder-step graph of a caption run; ``count``: keywords in
    the example of a keywords run."""
    if model.input_kind == "image":
        encoder_config = model.config()
        channels, size = encoder_config["image_channels"], encoder_config["image_size"]
        inputs = {"images": torch.randn(batch, channels, size, size)}
        axes = {"images": {0: "batch"}}
        module_class: type[nn.Module] = ImageCaptionEncoder
        summary = "normalised images (B, C, S, S) -> the decoder's first state"
        memory_axis = None
    else:
        keywords = torch.randint(4, model.encoder.num_embeddings, (batch, count))
        inputs = {"keywords": keywords, "lengths": torch.tensor([count] + [2] * (batch - 1))}
        axes = {"keywords": {0: "batch", 1: "source"}, "lengths": {0: "batch"}}
        module_class = KeywordCaptionEncoder
        summary = "keyword ids (B, K) and lengths (B,) -> the decoder's first state"
        memory_axis = "source"
    with torch.no_grad():
        example = model.encode(*inputs.values())
    layout = DecoderStateLayout(example)
    encoder = Graph(
        name="encoder",
        module=module_class(model, layout),
        inputs=inputs,
        outputs=(*layout.names(), *layout.fixed_names()),
        axes=axes,
        summary=summary,
    )
    return [encoder, decoder_step_graph(model, example, memory_axis)]
