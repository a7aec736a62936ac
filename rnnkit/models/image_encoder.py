"""The one small convolutional image encoder in plain PyTorch, shared by captioning (its feature
map to attend over and its pooled vector to start from), video's per-frame encoder (CNN + RNN)
and image classification (``classify --images cnn``: its feature map read by an RNN).

``n = len(widths)`` stages of ``conv 3x3 with stride 2 -> batch norm -> ReLU``, the ``i``-th with
``widths[i]`` channels, then (``refine``) one more ``conv 3x3 -> batch norm -> ReLU`` at the last
resolution, which widens what each position sees (batch normalisation, Ioffe and Szegedy 2015,
makes the CNN train in far fewer steps; strided convolutions instead of max-pooling made a 64 x 64
image's encoding several times cheaper on a CPU, where pooling took a third of the time). With
``batch_norm=False`` a stage is ``conv 3x3 (with bias) -> ReLU`` (video's frame encoder). Each
stage halves a side, rounding up: an image ``(B, C, H, W)`` becomes a feature map
``(B, F, ceil(H / 2^n), ceil(W / 2^n))`` with ``F = widths[-1]``.

``forward`` returns the map as a sequence of ``P = h * w`` positions in row-major order,
``(B, P, F)``, the memory an attention decoder reads (Show, Attend and Tell, Xu et al. 2015), and
its mean over positions ``(B, F)``, the summary from which a decoder starts (Show and Tell,
Vinyals et al. 2015); ``feature_map`` returns the map itself.

Weight names: ``stages.<i>.weight`` (and the batch norms' ``bias``, ``running_mean``,
``running_var``, ``num_batches_tracked``), the ``i`` counting the modules of ``stages`` in order,
so that a model holding the encoder as ``encoder`` stores ``encoder.stages.<i>.*``: caption runs,
classify ``--images cnn`` runs and (as ``encoder.cnn.stages.<i>.*``) video clip-classify runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from rnnkit.models.config import KeepsArguments, constructor_arguments


def conv_block(
    in_channels: int, out_channels: int, stride: int = 1, batch_norm: bool = True
) -> list[nn.Module]:
    """A 3x3 convolution (``stride`` 2: half the height and width), batch norm, ReLU; without
    ``batch_norm`` the convolution has a bias and no norm follows."""
    convolution = nn.Conv2d(
        in_channels, out_channels, 3, stride=stride, padding=1, bias=not batch_norm
    )
    norm: list[nn.Module] = [nn.BatchNorm2d(out_channels)] if batch_norm else []
    return [convolution, *norm, nn.ReLU()]


def reduced_side(side: int, stages: int) -> int:
    """The side of the feature map after ``stages`` stride-2 convolutions (each rounds up)."""
    for _ in range(stages):
        side = (side + 1) // 2
    return side


class ImageEncoder(KeepsArguments):
    """Images ``(B, C, H, W)`` -> ``(features (B, P, F), pooled (B, F))``.

    Args:
        in_channels: ``C``, 1 for grey images, 3 for RGB.
        image_size: ``S``, the side of the (square) input, which fixes ``grid``; None for an
            encoder of images of any size (``grid`` is then None).
        widths: the channels of each stage; ``F = widths[-1]``.
        batch_norm: batch norm after each convolution (else the convolutions have biases).
        refine: one more convolution at the last resolution.
    """

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int | None = 64,
        widths: Sequence[int] = (16, 32, 64),
        batch_norm: bool = True,
        refine: bool = True,
    ) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        if not widths or any(w < 1 for w in widths):
            raise ValueError(f"widths must be positive channel counts, got {widths}")
        if image_size is not None and image_size < 1:
            raise ValueError(f"image_size must be positive, got {image_size}")
        self._config = constructor_arguments(ImageEncoder.__init__, locals())
        self._config["widths"] = widths
        layers: list[nn.Module] = []
        channels = in_channels
        for width in widths:
            layers += conv_block(channels, width, stride=2, batch_norm=batch_norm)
            channels = width
        if refine:
            layers += conv_block(channels, channels, batch_norm=batch_norm)
        self.stages = nn.Sequential(*layers)
        self.feature_size = widths[-1]
        #: the (rows, columns) of the feature map, None for images of any size
        self.grid: tuple[int, int] | None = None
        if image_size is not None:
            side = reduced_side(image_size, len(widths))
            self.grid = (side, side)

    def feature_map(self, images: Tensor) -> Tensor:
        """``images (B, C, H, W)`` -> the feature map ``(B, F, h, w)``."""
        if images.dim() != 4:
            raise ValueError(f"images must be (B, C, H, W), got shape {tuple(images.shape)}")
        return self.stages(images)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """``images (B, C, H, W)`` -> ``(features (B, P, F), pooled (B, F))``."""
        features = self.feature_map(images).flatten(2).transpose(1, 2)  # (B, h * w, F) row-major
        return features, features.mean(dim=1)
