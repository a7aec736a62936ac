"""The language model's graph: tokens and a state in, next-token logits and the state out."""

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
from rnnkit.models import LanguageModel


class LanguageModelStep(nn.Module):
    """``tokens (B, T)`` int64, state ``(L, B, H)`` per component -> ``(logits (B, T, V),
    state)``: ``LanguageModel.forward``. Feeding one token at a time with the returned state
    gives the logits of the whole sequence at once."""

    def __init__(self, model: LanguageModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        logits, new_state = self.model(tokens, join_state(state))
        return (logits, *as_tuple(new_state))


def language_model_graphs(model: LanguageModel, batch: int = 2, steps: int = 7) -> list[Graph]:
    """The one graph of an lm run."""
    state = initial_state(model.rnn, batch)
    tokens = torch.randint(0, model.vocab_size, (batch, steps))
    return [
        Graph(
            name="model",
            module=LanguageModelStep(model),
            inputs={"tokens": tokens, **state_inputs(state)},
            outputs=("logits", *state_outputs(state)),
            axes={"tokens": {0: "batch", 1: "time"}, **state_axes(state)},
            summary="tokens (B, T) and the state -> next-token logits (B, T, V) and the state",
        )
    ]
