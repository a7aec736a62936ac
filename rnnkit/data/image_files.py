"""Images from the user's files, as the caption and classify tasks read them: Pillow, one size,
normalised.

``read_image`` opens a PNG or JPEG (any format Pillow reads), converts it to grey (``L``) or RGB
as the run says, whatever its own mode (palette, grey with alpha, CMYK...), scales it so that its
shorter side is ``size`` pixels and cuts the centre ``size x size`` square; ``fit_arrays`` does
the same to arrays of images (IDX or ``.npz`` files). ``ImageSettings`` is what a run stores
(``images.json``): the size, the channels, and each channel's mean and standard deviation over
the training images, with which ``normalise`` turns ``uint8`` pixels into the model's inputs.
Pillow is imported on use (``rnnkit[images]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.readers import read_json_file
from rnnkit.errors import UserError, require_extra

#: Pillow modes that hold no colour
GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F", "La"})


def _pillow() -> Any:
    return require_extra("PIL.Image", "images", "reading images")


def open_image(path: str | Path) -> Any:
    """The Pillow image of ``path``, fully read; ``UserError`` naming the file when it cannot."""
    image_module = _pillow()
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist; give the path of an image file.")
    try:
        image = image_module.open(path)
        image.load()
    except (OSError, ValueError, image_module.DecompressionBombError) as error:
        reason = str(error).split("\n")[0] or type(error).__name__
        raise UserError(
            f"{path} is not an image Pillow can read ({reason}); give a PNG or JPEG."
        ) from None
    return image


def is_grey(path: str | Path) -> bool:
    """Whether the image in ``path`` has no colour channels (by its mode, read from its header;
    a file Pillow cannot identify is refused here, a damaged one when its pixels are read)."""
    image_module = _pillow()
    try:
        with image_module.open(path) as image:
            return image.mode in GREY_MODES
    except (OSError, ValueError) as error:
        reason = str(error).split("\n")[0] or type(error).__name__
        raise UserError(
            f"{path} is not an image Pillow can read ({reason}); give a PNG or JPEG."
        ) from None


def read_image(path: str | Path, size: int, channels: int) -> np.ndarray:
    """The image in ``path`` as ``uint8 (channels, size, size)``: converted to grey
    (``channels=1``) or RGB (3), its shorter side scaled to ``size``, its centre cut out."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    return fit_image(open_image(path), size, channels)


def fit_image(image: Any, size: int, channels: int) -> np.ndarray:
    """A Pillow image as ``uint8 (channels, size, size)`` (``read_image``)."""
    image_module = _pillow()
    image = image.convert("L" if channels == 1 else "RGB")
    width, height = image.size
    scale = size / min(width, height)
    scaled = (max(size, round(width * scale)), max(size, round(height * scale)))
    if scaled != (width, height):
        image = image.resize(scaled, image_module.Resampling.BILINEAR)
    left, top = (scaled[0] - size) // 2, (scaled[1] - size) // 2
    image = image.crop((left, top, left + size, top + size))
    pixels = np.asarray(image, dtype=np.uint8)
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1).copy()


def fit_arrays(images: np.ndarray, size: int, channels: int) -> Tensor:
    """Images ``uint8 (N, H, W, C)`` (``C`` 1 or 3) as ``uint8 (N, channels, size, size)``,
    each converted, scaled and cropped as ``read_image`` does; images already of that size and
    channel count are only transposed."""
    count, height, width, own = images.shape
    if own not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, got {own}")
    if (height, width, own) == (size, size, channels):
        return torch.from_numpy(images.transpose(0, 3, 1, 2).copy())  # writable, contiguous
    image_module = _pillow()
    out = np.empty((count, channels, size, size), dtype=np.uint8)
    for n, array in enumerate(images):
        image = image_module.fromarray(array[..., 0] if own == 1 else array)
        out[n] = fit_image(image, size, channels)
    return torch.from_numpy(out)


def read_images(paths: Sequence[Path], size: int, channels: int) -> Tensor:
    """``uint8 (N, channels, size, size)``: every image of ``paths`` (``read_image``)."""
    if not paths:
        return torch.zeros(0, channels, size, size, dtype=torch.uint8)
    return torch.from_numpy(np.stack([read_image(p, size, channels) for p in paths]))


@dataclass(frozen=True)
class ImageSettings:
    """How a run reads images: ``size`` pixels square, ``channels`` (1 grey, 3 RGB), and per
    channel the ``mean`` and ``std`` of the training pixels (scaled to 0..1)."""

    size: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, images: Tensor) -> ImageSettings:
        """The settings of training images ``uint8 (N, C, S, S)`` (summed a block of images at
        a time, in float64, so a large set needs no float copy of itself)."""
        channels = int(images.shape[1])
        total = torch.zeros(channels, dtype=torch.float64)
        squares = torch.zeros(channels, dtype=torch.float64)
        for block in images.split(4096):
            pixels = block.double().div(255).transpose(0, 1).flatten(1)  # (C, n * S * S)
            total += pixels.sum(dim=1)
            squares += pixels.square().sum(dim=1)
        count = images[:, 0].numel()
        mean = total / count
        variance = (squares - count * mean.square()) / max(count - 1, 1)  # unbiased, as torch.std
        std = variance.clamp(min=0).sqrt().clamp(min=1e-3)
        return cls(
            size=int(images.shape[-1]),
            channels=channels,
            mean=tuple(float(v) for v in mean),
            std=tuple(float(v) for v in std),
        )

    def normalise(self, images: Tensor) -> Tensor:
        """``uint8 (B, C, S, S)`` -> float32 ``(B, C, S, S)`` with zero mean and unit variance."""
        mean = torch.tensor(self.mean, device=images.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=images.device).view(1, -1, 1, 1)
        return (images.float() / 255 - mean) / std

    def read(self, paths: Sequence[Path]) -> Tensor:
        """The images of ``paths`` as this run reads them, ``uint8 (N, C, S, S)``."""
        return read_images(paths, self.size, self.channels)

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "channels": self.channels, "mean": list(self.mean),
                "std": list(self.std)}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageSettings:
        """Settings from ``to_dict``'s output; ``ValueError``, ``KeyError`` or ``TypeError`` when
        they are unusable."""
        settings = cls(
            size=int(data["size"]),
            channels=int(data["channels"]),
            mean=tuple(float(v) for v in data["mean"]),
            std=tuple(float(v) for v in data["std"]),
        )
        if settings.channels not in (1, 3) or len(settings.mean) != settings.channels:
            raise ValueError(f"{settings.channels} channels with {len(settings.mean)} means")
        if len(settings.std) != settings.channels or min(settings.std) <= 0 or settings.size < 1:
            raise ValueError("a deviation per channel, each positive, and a positive size")
        return settings

    @classmethod
    def load(cls, path: str | Path) -> ImageSettings:
        """The settings a run stored in ``path``; ``UserError`` naming it when unusable."""
        return read_json_file(path, cls.from_dict, "image settings file")
