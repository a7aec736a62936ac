"""The image classifier's graph (classify ``--images cnn``): normalised images in, class logits out.

Images are the run's as ``images.json`` says: scaled and centre-cropped to its size ``S``, then
``(pixel / 255 - mean) / std`` per channel, channels first, as ``float32``. The CNN's feature map
has a fixed number of rows for that size, so only the batch axis is symbolic; every image has all
its rows, so there are no lengths.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.export.graph import Graph
from rnnkit.models.image_classifier import ImageClassifier


class ImageClassifierForward(nn.Module):
    """``images (B, C, S, S)``, normalised -> ``(logits (B, K), pooling weights (B, h))``: the
    model's CNN rows read by its ``SequenceClassifier`` (the weights are zeros unless it pools
    with attention)."""

    def __init__(self, model: ImageClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        rows = self.model.rows(images)  # (B, h, w * F)
        logits, weights = self.model.classifier.forward_with_weights(rows)
        if weights is None:
            weights = logits.new_zeros(rows.shape[0], rows.shape[1])
        return logits, weights


def image_classifier_graphs(model: ImageClassifier, batch: int = 3) -> list[Graph]:
    """The one graph of a classify ``--images cnn`` run. The example's batch (3) differs from
    the image's other sizes, so that no size the tracer meets can be mistaken for it."""
    side = model.image_size
    images = torch.randn(batch, model.image_channels, side, side)
    return [
        Graph(
            name="model",
            module=ImageClassifierForward(model),
            inputs={"images": images},
            outputs=("logits", "weights"),
            axes={"images": {0: "batch"}},
            summary="normalised images (B, C, S, S) -> class logits (B, K) and the pooling "
            "weights of the feature map's rows (B, h)",
        )
    ]
