"""Models over frames ``(B, T, C, H, W)``: a per-frame CNN encoder feeding any RNN (LRCN), and a
ConvLSTM encoder-forecaster that predicts future frames.

``FrameEncoder`` is rnnkit's one small CNN (``rnnkit.models.image_encoder.ImageEncoder``, here
3x3 convolutions with stride 2, biases and ReLU) applied to every frame at once (time folded into
the batch), then an average pool to 4x4 and a linear layer, giving one feature vector per frame.
``ClipClassifier`` feeds those vectors to a ``SequenceClassifier`` (any cell, pooling over the
real frames): the "long-term recurrent convolutional network" of Donahue et al. 2015.

``FramePredictor`` follows Shi et al. 2015: an encoder of stacked convolutional recurrent layers
reads the ``N`` context frames; a forecaster of the same shape starts from the encoder's final
states and emits ``M`` frames. Frames are first cut into ``patch x patch`` patches stacked as
channels (``pixel_unshuffle``, as PredRNN and OpenSTL do), so the recurrence runs on a
``H/patch x W/patch`` grid; a 1x1 convolution of the forecaster's top layer and
``pixel_shuffle`` give each frame back, through a sigmoid into [0, 1]. The forecaster's input at
each step is the previous frame: the last context frame first, then either the true frame
(teacher forcing) or its own prediction; ``teacher_forcing`` between 0 and 1 picks per clip and
step (scheduled sampling, Bengio et al. 2015).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.layers import RNN
from rnnkit.models.classifier import SequenceClassifier
from rnnkit.models.config import KeepsArguments, check_choice, constructor_arguments
from rnnkit.models.image_encoder import ImageEncoder

FRAME_CELLS = ("conv_lstm", "conv_gru")


def check_frames(frames: Tensor, channels: int, image_size: tuple[int, int]) -> None:
    """A ValueError unless ``frames`` is ``(B, T, channels, H, W)`` with ``(H, W) = image_size``."""
    if frames.dim() != 5 or tuple(frames.shape[2:]) != (channels, *image_size):
        raise ValueError(
            f"expected frames (B, T, {channels}, {image_size[0]}, {image_size[1]}), "
            f"got {tuple(frames.shape)}"
        )


class FrameEncoder(nn.Module):
    """Per-frame CNN: ``(B, T, C, H, W) -> (B, T, features)``.

    The shared ``ImageEncoder`` (``cnn``; ``channels`` gives the output channels of each stride-2
    3x3 convolution, each with a bias and a ReLU, no batch norm, no refining convolution), then an
    average pool to 4x4 and a linear layer (``project``), applied to all ``B * T`` frames at once.

    Runs written before the CNN was shared store ``encoder.net.<i>.*`` (the convolutions at
    ``i = 0, 2, 4...``, the linear layer after them, pool and flatten between); loading renames
    them to ``encoder.cnn.stages.<i>.*`` and ``encoder.project.*`` (``_load_from_state_dict``).
    """

    def __init__(
        self, in_channels: int, channels: tuple[int, ...] = (16, 32, 64), features: int = 128
    ) -> None:
        super().__init__()
        self.cnn = ImageEncoder(in_channels, None, channels, batch_norm=False, refine=False)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.project = nn.Linear(self.cnn.feature_size * 16, features)
        self.features = features

    def forward(self, frames: Tensor) -> Tensor:
        batch, steps = frames.shape[:2]
        pooled = self.pool(self.cnn.feature_map(frames.flatten(0, 1))).flatten(1)
        return self.project(pooled).view(batch, steps, self.features)

    def upgrade_weight_names(self, tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
        """``tensors`` with this encoder's names from before the CNN was shared (``prefix`` +
        ``net.<i>.*``, class doc) renamed to the current ones; other names unchanged."""
        old_linear = f"{prefix}net.{len(self.cnn.stages) + 2}."  # after the pool and flatten
        renamed = {}
        for name, tensor in tensors.items():
            if name.startswith(old_linear):
                name = f"{prefix}project.{name[len(old_linear) :]}"
            elif name.startswith(f"{prefix}net."):
                name = f"{prefix}cnn.stages.{name[len(prefix) + len('net.') :]}"
            renamed[name] = tensor
        return renamed


class ClipClassifier(KeepsArguments):
    """``FrameEncoder`` -> ``SequenceClassifier``: one label per clip.

    ``forward(frames (B, T, C, H, W), lengths (B,) or None) -> logits (B, K)``.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        encoder_channels: tuple[int, ...] = (16, 32, 64),
        features: int = 128,
        hidden_size: int = 128,
        num_layers: int = 1,
        cell: str = "lstm",
        bidirectional: bool = False,
        pooling: str = "last",
        dropout: float = 0.0,
        **cell_options: Any,
    ) -> None:
        super().__init__()
        self._config = constructor_arguments(ClipClassifier.__init__, locals())
        self._config["encoder_channels"] = list(encoder_channels)
        self.in_channels = in_channels
        self.encoder = FrameEncoder(in_channels, tuple(encoder_channels), features)
        self.classifier = SequenceClassifier(
            num_classes,
            input_size=features,
            hidden_size=hidden_size,
            num_layers=num_layers,
            cell=cell,
            bidirectional=bidirectional,
            pooling=pooling,
            dropout=dropout,
            **cell_options,
        )

    @property
    def num_classes(self) -> int:
        return self.classifier.num_classes

    def upgrade_weight_names(self, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
        """The weights of a run written before the frame CNN was shared, under today's names
        (``FrameEncoder``); ``rnnkit.training.load_weights`` calls it."""
        return self.encoder.upgrade_weight_names(tensors, "encoder.")

    def forward(self, frames: Tensor, lengths: Tensor | None = None) -> Tensor:
        if frames.dim() != 5 or frames.shape[2] != self.in_channels:
            raise ValueError(
                f"expected frames (B, T, {self.in_channels}, H, W), got {tuple(frames.shape)}"
            )
        return self.classifier(self.encoder(frames), lengths)


class FramePredictor(KeepsArguments):
    """ConvLSTM (or ConvGRU) encoder-forecaster over patched frames.

    Args:
        in_channels: ``C`` of the frames.
        image_size: ``(H, W)``, both divisible by ``patch``.
        patch: side of the square patches stacked as channels.
        hidden_size: channels of every recurrent layer's state.
        num_layers: stacked layers of the encoder and of the forecaster.
        kernel_size: of the recurrent convolutions (odd).
        cell: ``"conv_lstm"`` or ``"conv_gru"``.

    ``forward(context (B, N, C, H, W), future (B, M, C, H, W) or None, steps=M,
    teacher_forcing=1.0) -> predicted (B, M, C, H, W)`` in [0, 1]; without ``future`` (or with
    ``teacher_forcing=0``) every step is fed the model's own previous prediction.
    """

    def __init__(
        self,
        in_channels: int = 1,
        image_size: tuple[int, int] = (64, 64),
        patch: int = 4,
        hidden_size: int = 64,
        num_layers: int = 2,
        kernel_size: int = 5,
        cell: str = "conv_lstm",
    ) -> None:
        super().__init__()
        check_choice("cell", cell, FRAME_CELLS)
        image_size = (int(image_size[0]), int(image_size[1]))
        if image_size[0] % patch or image_size[1] % patch:
            raise ValueError(f"image_size {image_size} is not divisible by patch {patch}")
        self._config = constructor_arguments(FramePredictor.__init__, locals())
        self._config["image_size"] = list(image_size)
        self.in_channels, self.image_size, self.patch = in_channels, image_size, patch
        self.grid = (image_size[0] // patch, image_size[1] // patch)
        self.patch_channels = in_channels * patch * patch
        flat = self.patch_channels * self.grid[0] * self.grid[1]
        options = {"image_size": self.grid, "kernel_size": kernel_size}
        self.encoder = RNN(cell, flat, hidden_size, num_layers=num_layers, **options)
        self.forecaster = RNN(cell, flat, hidden_size, num_layers=num_layers, **options)
        self.head = nn.Conv2d(hidden_size, self.patch_channels, 1)
        self.hidden_size = hidden_size

    def start_from_mean(self, mean: float) -> None:
        """Start every predicted pixel at ``mean`` (in (0, 1)), the training frames' mean, rather
        than at 1/2: the first steps need not learn that most pixels are dark."""
        mean = min(max(mean, 1e-3), 1 - 1e-3)
        with torch.no_grad():
            self.head.bias.fill_(math.log(mean / (1 - mean)))

    # --- frames <-> the recurrence's flattened patch grids ---------------------------------------

    def to_grid(self, frames: Tensor) -> Tensor:
        """``(B, T, C, H, W) -> (B, T, C*p*p * H/p * W/p)``."""
        batch, steps = frames.shape[:2]
        patches = F.pixel_unshuffle(frames.flatten(0, 1), self.patch)
        return patches.reshape(batch, steps, -1)

    def to_frames(self, outputs: Tensor) -> Tensor:
        """The forecaster's outputs ``(B, T, hidden * grid)`` -> frames ``(B, T, C, H, W)``."""
        batch, steps = outputs.shape[:2]
        maps = outputs.reshape(batch * steps, self.hidden_size, *self.grid)
        frames = F.pixel_shuffle(self.head(maps), self.patch)
        return torch.sigmoid(frames).view(batch, steps, self.in_channels, *self.image_size)

    # --- forward ---------------------------------------------------------------------------------

    def forward(
        self,
        context: Tensor,
        future: Tensor | None = None,
        steps: int | None = None,
        teacher_forcing: float | Tensor = 1.0,
    ) -> Tensor:
        check_frames(context, self.in_channels, self.image_size)
        if future is not None:
            check_frames(future, self.in_channels, self.image_size)
            steps = future.shape[1]
        if steps is None or steps < 1:
            raise ValueError("give future frames or a number of steps >= 1")
        _, state = self.encoder(self.to_grid(context))
        last = context[:, -1:]
        ratio = torch.as_tensor(teacher_forcing, dtype=context.dtype, device=context.device)
        if future is not None and bool((ratio >= 1).all()):
            # teacher forcing throughout: every input is known, one call runs all M steps
            inputs = torch.cat([last, future[:, :-1]], dim=1)
            outputs, _ = self.forecaster(self.to_grid(inputs), state)
            return self.to_frames(outputs)
        predictions = []
        previous = last
        for step in range(steps):
            output, state = self.forecaster(self.to_grid(previous), state)
            frame = self.to_frames(output)
            predictions.append(frame)
            if future is not None and step + 1 < steps:
                use_truth = torch.rand(frame.shape[0], device=frame.device) < ratio
                truth = future[:, step : step + 1]
                previous = torch.where(use_truth.view(-1, 1, 1, 1, 1), truth, frame)
            else:
                previous = frame
        return torch.cat(predictions, dim=1)
