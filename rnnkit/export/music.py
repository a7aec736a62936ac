"""The piano-roll model's graph: frames and a state in, each key's logit out.

Key logits of frame ``t`` are conditioned on the frames before it (and, for the NADE head, on
the keys below in frame ``t``). ``previous (B, K)`` is the frame before the first (silence at the
start of a piece); to continue a stream, pass the chunk's last frame as ``previous`` with the
returned state.
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
from rnnkit.models import PianoRollModel


class PianoRollLogits(nn.Module):
    """``rolls (B, T, K)`` 0/1, ``previous (B, K)``, state -> ``(key logits (B, T, K),
    state)``: ``PianoRollModel.key_logits`` with the state carried in and out."""

    def __init__(self, model: PianoRollModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, rolls: Tensor, previous: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        inputs = torch.cat([previous.unsqueeze(1), rolls[:, :-1]], dim=1)
        context, new_state = self.model.context(inputs, join_state(state))
        return (self.model.head.key_logits(context, rolls), *as_tuple(new_state))


def piano_roll_graphs(model: PianoRollModel, batch: int = 2, steps: int = 7) -> list[Graph]:
    """The one graph of a music run."""
    state = initial_state(model.rnn, batch)
    rolls = (torch.rand(batch, steps, model.keys) < 0.2).float()
    previous = torch.zeros(batch, model.keys)
    return [
        Graph(
            name="model",
            module=PianoRollLogits(model),
            inputs={"rolls": rolls, "previous": previous, **state_inputs(state)},
            outputs=("key_logits", *state_outputs(state)),
            axes={"rolls": {0: "batch", 1: "time"}, "previous": {0: "batch"}, **state_axes(state)},
            summary="frames (B, T, K), the frame before (B, K) and the state -> each key's "
            "logit (B, T, K) and the state after the frames before the last",
        )
    ]
