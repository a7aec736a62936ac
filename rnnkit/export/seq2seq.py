"""The encoder-decoder's two graphs: the encoder once per source, the decoder once per step.

The decoder's state (``Seq2Seq.encode``'s dict) crosses the graphs' boundary as named tensors:
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
from rnnkit.models import Seq2Seq


class _StateLayout:
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

    def unflatten(self, carried: tuple[Tensor, ...], fixed: tuple[Tensor, ...]) -> dict[str, Any]:
        """The decoder state dict of ``Seq2Seq.step`` from the graph's inputs."""
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


class Seq2SeqEncoder(nn.Module):
    """``source (B, S)`` ids, ``lengths (B,)`` -> the decoder's first state: ``Seq2Seq.encode``."""

    def __init__(self, model: Seq2Seq, layout: _StateLayout) -> None:
        super().__init__()
        self.model, self.layout = model, layout

    def forward(self, source: Tensor, lengths: Tensor) -> tuple[Tensor, ...]:
        state = self.model.encode(source, lengths)
        return (*self.layout.flatten(state), *self.layout.fixed(state))


class Seq2SeqDecoderStep(nn.Module):
    """``tokens (B,)`` (the previous target token), the state -> ``(log_probs (B, V_t),
    carried state)``: ``Seq2Seq.step``, whose log-probabilities never pick pad or bos."""

    def __init__(self, model: Seq2Seq, layout: _StateLayout) -> None:
        super().__init__()
        self.model, self.layout = model, layout

    def forward(self, tokens: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        carried = len(self.layout.names())
        decoder_state = self.layout.unflatten(state[:carried], state[carried:])
        log_probs, new_state = self.model.step(tokens, decoder_state)
        return (log_probs, *self.layout.flatten(new_state))


def seq2seq_graphs(model: Seq2Seq, batch: int = 2, steps: int = 6) -> list[Graph]:
    """The encoder graph and the decoder-step graph of a translate run."""
    source = torch.randint(4, model.source_embedding.num_embeddings, (batch, steps))
    lengths = torch.tensor([steps] + [max(1, steps - 2)] * (batch - 1))
    with torch.no_grad():
        example = model.encode(source, lengths)
    layout = _StateLayout(example)
    carried, fixed = layout.names(), layout.fixed_names()
    encoder = Graph(
        name="encoder",
        module=Seq2SeqEncoder(model, layout),
        inputs={"source": source, "lengths": lengths},
        outputs=(*carried, *fixed),
        axes={"source": {0: "batch", 1: "source"}, "lengths": {0: "batch"}},
        summary="source ids (B, S) and lengths (B,) -> the decoder's first state",
    )
    tokens = torch.full((batch,), model.bos_id, dtype=torch.long)
    values = (*layout.flatten(example), *layout.fixed(example))
    inputs = dict(zip((*carried, *fixed), values, strict=True))
    axes: dict[str, dict[int, str]] = {"tokens": {0: "batch"}}
    for name in layout.components:
        axes[name] = {1: "batch"}
    for name in ("feed", "memory", "keys", "mask"):
        if name in inputs:
            axes[name] = {0: "batch"} if name == "feed" else {0: "batch", 1: "source"}
    decoder = Graph(
        name="decoder_step",
        module=Seq2SeqDecoderStep(model, layout),
        inputs={"tokens": tokens, **inputs},
        outputs=("log_probs", *(f"{name}_out" for name in carried)),
        axes=axes,
        summary="previous tokens (B,) and the state -> log-probabilities (B, V) and the state",
    )
    return [encoder, decoder]
