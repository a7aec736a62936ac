"""CNN + RNN image classification: the shared CNN's feature map read by an RNN, row by row.

An image ``(B, C, S, S)`` goes through ``ImageEncoder`` (the caption task's CNN, weights named
``encoder.stages.<i>.*`` as there, so a caption run can take them: ``caption --encoder-from``);
its feature map ``(B, F, h, w)`` becomes a sequence of its ``h`` rows, top to bottom, each row
the ``w * F`` features of its positions; a ``SequenceClassifier`` (any cell, bidirectional,
pooled) reads that sequence and gives the class logits. The CNN sees local shapes; the RNN
relates the rows, as row-wise MNIST does on pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from rnnkit.models.classifier import SequenceClassifier
from rnnkit.models.config import KeepsArguments, check_fraction, constructor_arguments
from rnnkit.models.image_encoder import ImageEncoder


class ImageClassifier(KeepsArguments):
    """Normalised images ``(B, C, S, S)`` -> logits ``(B, K)``.

    Args:
        num_classes: ``K``.
        image_channels, image_size, encoder_widths: the ``ImageEncoder``.
        hidden_size, num_layers, cell, bidirectional, pooling, dropout, backend,
        **cell_options: the ``SequenceClassifier`` over the feature map's rows.
    """

    def __init__(
        self,
        num_classes: int,
        image_channels: int = 1,
        image_size: int = 28,
        encoder_widths: Sequence[int] = (16, 32, 64),
        hidden_size: int = 128,
        num_layers: int = 1,
        cell: str = "lstm",
        bidirectional: bool = True,
        pooling: str = "attention",
        dropout: float = 0.0,
        backend: str = "auto",
        **cell_options: Any,
    ) -> None:
        super().__init__()
        check_fraction("dropout", dropout)
        self._config = constructor_arguments(ImageClassifier.__init__, locals())
        self._config["encoder_widths"] = [int(w) for w in encoder_widths]
        self.image_channels, self.image_size = image_channels, image_size
        self.encoder = ImageEncoder(image_channels, image_size, encoder_widths)
        assert self.encoder.grid is not None
        self.classifier = SequenceClassifier(
            num_classes,
            input_size=self.encoder.grid[1] * self.encoder.feature_size,
            hidden_size=hidden_size,
            num_layers=num_layers,
            cell=cell,
            bidirectional=bidirectional,
            pooling=pooling,
            dropout=dropout,
            backend=backend,
            **cell_options,
        )

    @property
    def num_classes(self) -> int:
        return self.classifier.num_classes

    def rows(self, images: Tensor) -> Tensor:
        """``images (B, C, S, S)`` -> the feature map's rows ``(B, h, w * F)``, each row's
        positions left to right, each position's ``F`` features together."""
        expected = (self.image_channels, self.image_size, self.image_size)
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"expected images (B, {', '.join(map(str, expected))}), "
                             f"got {tuple(images.shape)}")  # fmt: skip
        feature_map = self.encoder.feature_map(images)  # (B, F, h, w)
        return feature_map.permute(0, 2, 3, 1).flatten(2)

    def forward(self, images: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Logits ``(B, K)``; ``lengths`` is ignored (every image has all its rows)."""
        return self.classifier(self.rows(images))
