"""The video models' graphs: frames in, next frames or a clip's class logits out.

A ``FramePredictor`` exports two graphs, so that a caller runs the encoder-forecaster as rnnkit
does, one future frame at a time, the recurrent state explicit:

- ``model`` (the encoder): ``context (B, N, C, H, W)`` frames in [0, 1] and the encoder's state
  -> the state after them. Start from zeros; a stream of context may come in chunks, the state
  carried. The final state is the forecaster's first state.
- ``step`` (the forecaster, one step): the previous frame ``(B, C, H, W)`` (the last context
  frame first, then each prediction) and the state -> the next frame in [0, 1] and the state.

A ``ClipClassifier`` exports ``model``: ``frames (B, T, C, H, W)`` and ``lengths (B,)`` -> class
logits ``(B, K)``. Frames are the run's frames as float in [0, 1] (uint8 / 255), channels first.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.export.graph import (
    Graph,
    initial_state,
    join_state,
    state_axes,
    state_inputs,
    state_outputs,
)
from rnnkit.layers.recurrent import as_tuple
from rnnkit.models.video import ClipClassifier, FramePredictor


class PredictorEncoder(nn.Module):
    """``context (B, N, C, H, W)``, state -> state: the encoder over the context frames."""

    def __init__(self, model: FramePredictor) -> None:
        super().__init__()
        self.model = model

    def forward(self, context: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        _, after = self.model.encoder(self.model.to_grid(context), join_state(state))
        return as_tuple(after)


class PredictorStep(nn.Module):
    """``previous (B, C, H, W)``, state -> ``(frame (B, C, H, W), state)``: one forecaster step."""

    def __init__(self, model: FramePredictor) -> None:
        super().__init__()
        self.model = model

    def forward(self, previous: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        output, after = self.model.forecaster(
            self.model.to_grid(previous.unsqueeze(1)), join_state(state)
        )
        return (self.model.to_frames(output).squeeze(1), *as_tuple(after))


class ClipForward(nn.Module):
    """``frames (B, T, C, H, W)``, ``lengths (B,)`` -> ``logits (B, K)``: ``ClipClassifier``."""

    def __init__(self, model: ClipClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, frames: Tensor, lengths: Tensor) -> tuple[Tensor]:
        return (self.model(frames, lengths),)


def predictor_graphs(model: FramePredictor, batch: int = 3, steps: int = 5) -> list[Graph]:
    """The encoder graph and the forecaster's step graph of a predict run.

    The example's batch (3) differs from every other size of the inputs, so that no size the
    tracer meets can be mistaken for the batch.
    """
    state = initial_state(model.encoder, batch)
    size = (model.in_channels, *model.image_size)
    context = torch.rand(batch, steps, *size)
    return [
        Graph(
            name="model",
            module=PredictorEncoder(model),
            inputs={"context": context, **state_inputs(state)},
            outputs=state_outputs(state),
            axes={"context": {0: "batch", 1: "time"}, **state_axes(state)},
            summary="context frames (B, N, C, H, W) in [0, 1] and the encoder's state (zeros "
            "at the start) -> the state after them, the forecaster's first state",
        ),
        Graph(
            name="step",
            module=PredictorStep(model),
            inputs={"previous": context[:, -1], **state_inputs(state)},
            outputs=("frame", *state_outputs(state)),
            axes={"previous": {0: "batch"}, **state_axes(state)},
            summary="the previous frame (B, C, H, W) (the last context frame, then each "
            "prediction) and the state -> the next frame (B, C, H, W) in [0, 1] and the state",
        ),
    ]


def clip_classifier_graphs(
    model: ClipClassifier,
    frame_shape: tuple[int, int, int] | None = None,
    batch: int = 3,
    steps: int = 5,
) -> list[Graph]:
    """The one graph of a classify run, for frames of ``frame_shape (C, H, W)`` (the run's:
    the CNN's pooling to 4x4 becomes a fixed window for that size)."""
    channels, height, width = frame_shape or (model.in_channels, 32, 32)
    frames = torch.rand(batch, steps, channels, height, width)
    lengths = torch.tensor([steps] + [max(1, steps - 2)] * (batch - 1))
    return [
        Graph(
            name="model",
            module=ClipForward(model),
            inputs={"frames": frames, "lengths": lengths},
            outputs=("logits",),
            axes={"frames": {0: "batch", 1: "time"}, "lengths": {0: "batch"}},
            summary="frames (B, T, C, H, W) in [0, 1] and the clips' lengths (B,) -> class "
            "logits (B, K)",
        )
    ]
