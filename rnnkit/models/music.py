"""Polyphonic music: an RNN over piano-roll frames with a head that gives each frame a probability.

``PianoRollModel`` reads the frames before ``t`` (a silent frame first) with any ``rnnkit.RNN``
cell and gives ``log p(frame_t | frames before t)`` through one of two heads:

- ``BernoulliHead``: each of the K keys independently on or off (the setting of the TCN paper,
  Bai et al. 2018); a frame's most likely value is every key whose probability exceeds 1/2;
- ``NADEHead``: the keys of one frame one after another, each given the keys below it (RNN-NADE,
  Boulanger-Lewandowski et al. 2012), which captures chords. The RNN state sets both biases of a
  NADE; the probability of all K keys is computed at once with one cumulative sum over keys (the
  NADE trick), so only sampling loops over keys.

Generation reads a prime once, then carries the recurrent state from one sampled frame to the
next; never recomputes the past.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.decoding.sampling import sample_bernoulli
from rnnkit.decoding.state import repeat_rows
from rnnkit.layers import RNN
from rnnkit.layers.dropout import dropout
from rnnkit.models.config import (
    KeepsArguments,
    check_choice,
    check_fraction,
    constructor_arguments,
)

HEADS = ("bernoulli", "nade")


class BernoulliHead(nn.Module):
    """Independent keys: ``logit_k = w_k . h + b_k``."""

    def __init__(self, context_size: int, keys: int) -> None:
        super().__init__()
        self.out = nn.Linear(context_size, keys)

    def key_logits(self, context: Tensor, frames: Tensor) -> Tensor:
        """``context (..., H)``, ``frames (..., K)`` -> each key's logit ``(..., K)`` (the
        frame itself is not needed: the keys are independent)."""
        return self.out(context)

    def sample(self, context: Tensor, temperature: float, generator: torch.Generator | None):
        """One frame ``(N, K)`` of 0/1 per row of ``context (N, H)``; temperature 0: the mode."""
        return sample_bernoulli(self.out(context), temperature, generator)


class NADEHead(nn.Module):
    """A NADE over the K keys of a frame whose biases the RNN context sets.

    With ``a_k = c + W_{<k}^T v_{<k}`` (``c = U_c h``) and ``logit_k = b_k + V_k . sigmoid(a_k)``
    (``b = U_b h``), ``p(v) = prod_k Bernoulli(v_k; sigmoid(logit_k))``.
    """

    def __init__(self, context_size: int, keys: int, hidden_size: int) -> None:
        super().__init__()
        self.to_visible_bias = nn.Linear(context_size, keys)
        self.to_hidden_bias = nn.Linear(context_size, hidden_size)
        self.w = nn.Parameter(torch.randn(keys, hidden_size) * 0.05)  # v_k -> hidden
        self.v = nn.Parameter(torch.randn(keys, hidden_size) * 0.05)  # hidden -> logit_k
        # strictly_below[j, k] = 1 where key j is below key k (not saved with the weights)
        self.register_buffer(
            "strictly_below", torch.ones(keys, keys).triu(diagonal=1), persistent=False
        )

    def key_logits(self, context: Tensor, frames: Tensor) -> Tensor:
        """``context (..., H)``, ``frames (..., K)`` -> ``logit_k`` given keys ``< k`` of
        ``frames``, ``(..., K)``: all keys at once.

        The hidden pre-activations of every key, ``a_k = c + sum_{j<k} v_j W_j``, come from one
        matrix product of the frames with ``W`` masked to ``j < k`` (``(K, K * Hn)``); it ran
        twice as fast as a cumulative sum over keys, whose memory access is strided.
        """
        keys, hidden = self.w.shape
        below = (self.strictly_below.unsqueeze(-1) * self.w.unsqueeze(1)).reshape(keys, -1)
        flat = frames.reshape(-1, keys).to(below.dtype)
        activation = (flat @ below).view(-1, keys, hidden)
        activation = activation + self.to_hidden_bias(context).reshape(-1, 1, hidden)
        logits = torch.einsum("nkh,kh->nk", torch.sigmoid(activation), self.v)
        return self.to_visible_bias(context) + logits.view(frames.shape)

    def sample(self, context: Tensor, temperature: float, generator: torch.Generator | None):
        """One frame ``(N, K)`` per row of ``context (N, H)``, key after key; temperature 0
        takes each key's likelier value given the keys chosen below it."""
        visible_bias = self.to_visible_bias(context)
        activation = self.to_hidden_bias(context)
        keys = []
        for k in range(self.w.shape[0]):
            logit = visible_bias[:, k] + torch.sigmoid(activation) @ self.v[k]
            key = sample_bernoulli(logit, temperature, generator)
            activation = activation + key.unsqueeze(-1) * self.w[k]
            keys.append(key)
        return torch.stack(keys, dim=-1)


class PianoRollModel(KeepsArguments):
    """``log p(frame_t | frames < t)`` of piano rolls, and sampling of new frames.

    Args:
        keys: ``K``, keys per frame (88 for a piano).
        hidden_size: ``H``, the cells' hidden size.
        num_layers: stacked recurrent layers.
        cell: any cell name ``rnnkit.RNN`` accepts.
        head: ``"bernoulli"`` (independent keys) or ``"nade"`` (keys of a frame in turn).
        nade_hidden: hidden units of the NADE head.
        dropout: between layers and on the RNN's output.
        backend: the ``rnnkit.RNN`` backend.
        **cell_options: passed to each cell.
    """

    def __init__(
        self,
        keys: int = 88,
        hidden_size: int = 256,
        num_layers: int = 1,
        cell: str = "lstm",
        head: str = "nade",
        nade_hidden: int = 128,
        dropout: float = 0.0,
        backend: str = "auto",
        **cell_options: Any,
    ) -> None:
        super().__init__()
        check_choice("head", head, HEADS)
        check_fraction("dropout", dropout)
        if keys < 1:
            raise ValueError(f"keys must be >= 1, got {keys}")
        self._config = constructor_arguments(PianoRollModel.__init__, locals())
        self.keys, self.dropout = keys, dropout
        self.rnn = RNN(
            cell,
            keys,
            hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            batch_first=True,
            backend=backend,
            **cell_options,
        )
        size = self.rnn.output_size
        self.head: BernoulliHead | NADEHead = (
            BernoulliHead(size, keys) if head == "bernoulli" else NADEHead(size, keys, nade_hidden)
        )

    def start_from_frequencies(self, frequencies: Tensor) -> None:
        """Set the output biases to the log-odds of each key's frequency ``(K,)`` in (0, 1), so
        that training starts from the per-key marginal model instead of every key at 1/2."""
        if isinstance(self.head, BernoulliHead):
            bias = self.head.out.bias
        else:
            bias = self.head.to_visible_bias.bias
        with torch.no_grad():
            bias.copy_(torch.logit(frequencies.to(bias)))

    def context(self, inputs: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """``inputs (B, T, K)``: the frames before each frame to score -> (context ``(B, T, H)``
        that the head reads, state)."""
        output, state = self.rnn(inputs.to(self.head_dtype), state)
        return dropout(output, self.dropout, self.training), state

    @property
    def head_dtype(self) -> torch.dtype:
        return next(self.head.parameters()).dtype

    def key_logits(
        self, rolls: Tensor, previous: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        """``rolls (B, T, K)`` -> each key's logit given the frames before it and the keys below
        it (NADE) ``(B, T, K)``. ``previous (B, K)`` is the frame before the first (default:
        silence). With ``mask (B, T)`` (bool), only the frames it marks, ``(N, K)`` in row-major
        order: the head costs nothing on padding."""
        if previous is None:
            previous = rolls.new_zeros(rolls.shape[0], rolls.shape[2])
        inputs = torch.cat([previous.unsqueeze(1), rolls[:, :-1]], dim=1)
        context, _ = self.context(inputs)
        if mask is not None:
            return self.head.key_logits(context[mask], rolls[mask])
        return self.head.key_logits(context, rolls)

    def forward(
        self, rolls: Tensor, previous: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        """``log p(frame_t | frames < t)`` ``(B, T)`` in nats, summed over the keys; 0 outside
        ``mask (B, T)`` when it is given."""
        if mask is None:
            logits = self.key_logits(rolls, previous).float()
            return -F.binary_cross_entropy_with_logits(logits, rolls.float(), reduction="none").sum(
                -1
            )
        mask = mask.bool()
        logits = self.key_logits(rolls, previous, mask).float()
        scores = -F.binary_cross_entropy_with_logits(
            logits, rolls[mask].float(), reduction="none"
        ).sum(-1)
        return scores.new_zeros(mask.shape).masked_scatter(mask, scores)

    def most_likely(self, rolls: Tensor, mask: Tensor | None = None) -> Tensor:
        """The likeliest frame ``(B, T, K)`` at each step given the true frames before it: exact
        for the Bernoulli head, key by key greedy for the NADE head. With ``mask (B, T)``
        (bool), only the frames it marks, ``(N, K)``."""
        inputs = torch.cat([rolls.new_zeros(rolls[:, :1].shape), rolls[:, :-1]], dim=1)
        context, _ = self.context(inputs)
        if mask is not None:
            return self.head.sample(context[mask], 0.0, None)
        flat = context.reshape(-1, context.shape[-1])
        return self.head.sample(flat, 0.0, None).reshape(rolls.shape)

    def generate(
        self,
        steps: int,
        prime: Tensor | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        samples: int = 1,
    ) -> Tensor:
        """``samples`` continuations ``(samples, steps, K)`` of ``prime (P, K)`` (or of silence).

        The prime runs through the RNN once; each sampled frame is fed back one step with the
        state carried. Dropout is off; the model's mode is restored afterwards.
        """
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        was_training = self.training
        self.eval()
        try:
            return self._sample(steps, prime, temperature, generator, samples)
        finally:
            self.train(was_training)

    @torch.inference_mode()
    def _sample(
        self,
        steps: int,
        prime: Tensor | None,
        temperature: float,
        generator: torch.Generator | None,
        samples: int,
    ) -> Tensor:
        dtype = self.head_dtype
        device = next(self.parameters()).device
        start = torch.zeros(1, 1, self.keys, device=device, dtype=dtype)
        inputs = start if prime is None else torch.cat([start, prime[None].to(start)], 1)
        output, state = self.rnn(inputs)
        context = output[:, -1].repeat(samples, 1)  # (S, H)
        state = repeat_rows(state, samples, dims=1)  # torch's layout: rows in dim 1
        frames = []
        for step in range(steps):
            frame = self.head.sample(context, temperature, generator)
            frames.append(frame)
            if step + 1 < steps:
                output, state = self.rnn(frame.unsqueeze(1), state)
                context = output[:, 0]
        return torch.stack(frames, dim=1)
