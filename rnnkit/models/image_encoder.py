"""A small convolutional image encoder in plain PyTorch: a feature map to attend over and a
pooled vector to start from.

``n = len(widths)`` stages of ``conv 3x3 with stride 2 -> batch norm -> ReLU``, the ``i``-th with
``widths[i]`` channels, then one more ``conv 3x3 -> batch norm -> ReLU`` at the last resolution,
which widens what each position sees (batch normalisation, Ioffe and Szegedy 2015, makes the CNN
train in far fewer steps; strided convolutions instead of max-pooling made a 64 x 64 image's
encoding several times cheaper on a CPU, where pooling took a third of the time): an image
``(B, C, S, S)`` becomes a feature map ``(B, F, S / 2^n, S / 2^n)`` with ``F = widths[-1]``.
``forward`` returns the map as a sequence of ``P = (S / 2^n)^2`` positions in row-major order,
``(B, P, F)``, the memory an attention decoder reads (Show, Attend and Tell, Xu et al. 2015), and
its mean over positions ``(B, F)``, the summary from which a decoder starts (Show and Tell,
Vinyals et al. 2015).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from rnnkit.models.config import KeepsArguments, constructor_arguments


def conv_block(in_channels: int, out_channels: int, stride: int = 1) -> list[nn.Module]:
    """A 3x3 convolution (``stride`` 2: half the height and width), batch norm, ReLU."""
    return [
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    ]


class ImageEncoder(KeepsArguments):
    """Images ``(B, C, S, S)`` -> ``(features (B, P, F), pooled (B, F))``.

    Args:
        in_channels: ``C``, 1 for grey images, 3 for RGB.
        image_size: ``S``, the side of the (square) input; a multiple of ``2^len(widths)``.
        widths: the channels of each stage; ``F = widths[-1]``.
    """

    def __init__(
        self, in_channels: int = 1, image_size: int = 64, widths: Sequence[int] = (16, 32, 64)
    ) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        if not widths or any(w < 1 for w in widths):
            raise ValueError(f"widths must be positive channel counts, got {widths}")
        if image_size % 2 ** len(widths):
            raise ValueError(
                f"image_size must be a multiple of 2^{len(widths)} = {2 ** len(widths)} for "
                f"{len(widths)} pooling stages, got {image_size}"
            )
        self._config = constructor_arguments(ImageEncoder.__init__, locals())
        self._config["widths"] = widths
        layers: list[nn.Module] = []
        channels = in_channels
        for width in widths:
            layers += conv_block(channels, width, stride=2)
            channels = width
        # one more convolution at the last resolution widens what each position sees
        layers += conv_block(channels, channels)
        self.stages = nn.Sequential(*layers)
        self.feature_size = widths[-1]
        side = image_size // 2 ** len(widths)
        #: the (rows, columns) of the feature map
        self.grid = (side, side)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """``images (B, C, S, S)`` -> ``(features (B, P, F), pooled (B, F))``."""
        if images.dim() != 4:
            raise ValueError(f"images must be (B, C, S, S), got shape {tuple(images.shape)}")
        feature_map = self.stages(images)  # (B, F, h, w)
        features = feature_map.flatten(2).transpose(1, 2)  # (B, h * w, F), row-major positions
        return features, features.mean(dim=1)
