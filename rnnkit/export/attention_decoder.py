"""The attention decoder's state as graph tensors, and its decoder-step graph, shared by every
model built on ``rnnkit.models.attention_decoder.AttentionDecoder`` (translate's ``Seq2Seq``,
caption's ``Captioner``): each model's module exports its own encoder graph, and this module the
step that follows it.

The decoder's state (the dict ``encode`` returns) crosses a graph's boundary as named tensors:
the decoder layers' states stacked in torch's layout (``h``, and ``c`` for an LSTM:
``(L, B, H)``), ``feed`` (the previous attentional vector, with input feeding), ``memory``
``(B, S, M)``, ``keys`` (the attention's prepared memory, where it differs from the memory) and
``mask`` ``(B, S)``. A caller runs the encoder, then the decoder step from the bos token, feeding
back the returned ``h``/``c``/``feed`` (greedy or beam search is the caller's).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.export.graph import STATE_COMPONENTS, Graph
from rnnkit.layers.recurrent import as_tuple, from_tuple
from rnnkit.models.attention_decoder import AttentionDecoder


class DecoderStateLayout:
    """Which entries a model's decoder state holds (read from an example state), and its dict
    <-> a tuple of tensors."""

    def __init__(self, example: dict[str, Any]) -> None:
        self.components = STATE_COMPONENTS[len(as_tuple(example["layers"][0]))]
        self.feed = example["feed"] is not None
        self.keys = example["keys"] is not None and example["keys"] is not example["memory"]

    def names(self) -> tuple[str, ...]:
        """Names of the carried tensors (those a step changes first)."""
        return (*self.components, *(("feed",) if self.feed else ()))

    def fixed_names(self) -> tuple[str, ...]:
        """Names of the tensors every step reads unchanged."""
        return ("memory", *(("keys",) if self.keys else ()), "mask")

    def flatten(self, state: dict[str, Any]) -> tuple[Tensor, ...]:
        """The carried tensors: each component stacked over layers ``(L, B, H)``, then feed."""
        layers = [as_tuple(layer) for layer in state["layers"]]
        stacked = tuple(torch.stack(parts) for parts in zip(*layers, strict=True))
        return (*stacked, *((state["feed"],) if self.feed else ()))

    def fixed(self, state: dict[str, Any]) -> tuple[Tensor, ...]:
        keys = (state["keys"],) if self.keys else ()
        return (state["memory"], *keys, state["mask"])

    def outputs(self, state: dict[str, Any]) -> tuple[Tensor, ...]:
        """What an encoder graph returns: the carried tensors, then the fixed ones."""
        return (*self.flatten(state), *self.fixed(state))

    def unflatten(self, carried: tuple[Tensor, ...], fixed: tuple[Tensor, ...]) -> dict[str, Any]:
        """The decoder state dict of ``AttentionDecoder.step`` from the graph's inputs."""
        count = len(self.components)
        stacked, rest = carried[:count], carried[count:]
        layers = [
            from_tuple(tuple(part[layer] for part in stacked)) for layer in range(len(stacked[0]))
        ]
        memory, *keys, mask = fixed
        return {
            "layers": layers,
            "feed": rest[0] if self.feed else None,
            "memory": memory,
            "keys": keys[0] if keys else None,
            "mask": mask,
        }


class DecoderStep(nn.Module):
    """``tokens (B,)`` (the previous output token), the state -> ``(log_probs (B, V),
    carried state)``: ``AttentionDecoder.step``, whose log-probabilities never pick pad or bos."""

    def __init__(self, model: AttentionDecoder, layout: DecoderStateLayout) -> None:
        super().__init__()
        self.model, self.layout = model, layout

    def forward(self, tokens: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        carried = len(self.layout.names())
        decoder_state = self.layout.unflatten(state[:carried], state[carried:])
        log_probs, new_state = self.model.step(tokens, decoder_state)
        return (log_probs, *self.layout.flatten(new_state))


def decoder_step_graph(
    model: AttentionDecoder, example: dict[str, Any], memory_axis: str | None
) -> Graph:
    """The decoder-step graph of ``model`` from an example first state (``encode``'s);
    ``memory_axis``: the name of the memory's symbolic length (``"source"``), or None where the
    memory has a fixed number of positions (an image's grid)."""
    layout = DecoderStateLayout(example)
    carried, fixed = layout.names(), layout.fixed_names()
    batch = example["memory"].shape[0]
    tokens = torch.full((batch,), model.bos_id, dtype=torch.long)
    inputs = dict(zip((*carried, *fixed), layout.outputs(example), strict=True))
    axes: dict[str, dict[int, str]] = {"tokens": {0: "batch"}}
    for name in layout.components:
        axes[name] = {1: "batch"}
    along = {1: memory_axis} if memory_axis is not None else {}
    for name in ("feed", "memory", "keys", "mask"):
        if name in inputs:
            axes[name] = {0: "batch"} if name == "feed" else {0: "batch", **along}
    return Graph(
        name="decoder_step",
        module=DecoderStep(model, layout),
        inputs={"tokens": tokens, **inputs},
        outputs=("log_probs", *(f"{name}_out" for name in carried)),
        axes=axes,
        summary="previous tokens (B,) and the state -> log-probabilities (B, V) and the state",
    )
