"""Frame-prediction metrics: MSE and MAE per frame, SSIM, and the copy-last-frame baseline.

Frames are floats in [0, 1], ``(B, T, C, H, W)``. As OpenSTL reports them (and so comparable
with its published figures), ``mse`` and ``mae`` are per frame: the squared (absolute) error
*summed over the frame's pixels and channels*, averaged over frames. ``ssim`` is the structural
similarity of Wang et al. 2004 with an 11x11 Gaussian window (sigma 1.5), data range 1,
``K1 = 0.01``, ``K2 = 0.03``, averaged over the window positions that fit inside the frame and
over channels, then over frames: the figure ``skimage.metrics.structural_similarity`` gives with
``gaussian_weights=True, use_sample_covariance=False, data_range=1``. Frames smaller than 11
pixels a side (where scikit-image refuses) use the largest centred part of the window that fits,
renormalised.

The copy-last-frame baseline predicts every future frame to be the last frame seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

SSIM_SIGMA = 1.5
SSIM_RADIUS = int(3.5 * SSIM_SIGMA + 0.5)  # scikit-image's truncation: an 11x11 window
SSIM_K1, SSIM_K2 = 0.01, 0.03


def gaussian_window(sigma: float = SSIM_SIGMA, radius: int = SSIM_RADIUS) -> Tensor:
    """The normalised 1-d Gaussian ``(2 * radius + 1,)`` in float64."""
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def ssim_per_frame(predicted: Tensor, truth: Tensor) -> Tensor:
    """SSIM of each frame: ``(..., C, H, W)`` pairs in [0, 1] -> ``(...)`` (float64)."""
    lead = predicted.shape[:-3]
    channels, height, width = predicted.shape[-3:]
    radius = min(SSIM_RADIUS, (min(height, width) - 1) // 2)
    a = predicted.reshape(-1, 1, height, width).double()
    b = truth.reshape(-1, 1, height, width).double()
    w = gaussian_window(radius=radius).to(a.device)
    rows, cols = w.view(1, 1, -1, 1), w.view(1, 1, 1, -1)

    def blur(x: Tensor) -> Tensor:  # separable Gaussian over the fully covered positions
        return F.conv2d(F.conv2d(x, rows), cols)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )
    per_channel = ssim_map.mean(dim=(1, 2, 3))
    return per_channel.view(*lead, channels).mean(dim=-1)


def copy_last_frame(context: Tensor, steps: int) -> Tensor:
    """The baseline's prediction: ``context (B, N, C, H, W)``'s last frame ``steps`` times."""
    return context[:, -1:].expand(-1, steps, -1, -1, -1)


@dataclass
class FrameScore:
    """Running sums of per-frame errors over batches; ``result()`` averages them."""

    squared: float = 0.0
    absolute: float = 0.0
    ssim: float = 0.0
    frames: int = 0
    squared_by_step: list[float] = field(default_factory=list)

    def add(self, predicted: Tensor, truth: Tensor) -> None:
        """Score predictions ``(B, M, C, H, W)`` against the true frames."""
        diff = (predicted - truth).double()
        squared = diff.pow(2).sum(dim=(2, 3, 4))  # (B, M): per-frame sums over pixels
        self.squared += float(squared.sum())
        self.absolute += float(diff.abs().sum())
        self.ssim += float(ssim_per_frame(predicted, truth).sum())
        self.frames += squared.numel()
        by_step = squared.sum(dim=0).tolist()
        if not self.squared_by_step:
            self.squared_by_step = [0.0] * len(by_step)
        self.squared_by_step = [s + v for s, v in zip(self.squared_by_step, by_step, strict=True)]

    def result(self, prefix: str = "") -> dict[str, float]:
        """``mse``, ``mae`` (per frame, summed over pixels) and ``ssim``, averaged over frames."""
        n = max(self.frames, 1)
        return {
            f"{prefix}mse": self.squared / n,
            f"{prefix}mae": self.absolute / n,
            f"{prefix}ssim": self.ssim / n if self.frames else math.nan,
        }

    def mse_by_step(self) -> list[float]:
        """MSE per frame at each future step (1..M)."""
        clips = self.frames // max(len(self.squared_by_step), 1)
        return [s / max(clips, 1) for s in self.squared_by_step]
