"""The attention decoder that every conditioned sequence generator shares: translation's
``Seq2Seq`` (memory: the encoder's outputs) and image captioning's ``Captioner`` (memory: a CNN's
feature map, or a few keyword embeddings).

``AttentionDecoder`` is a base class: a model builds its own encoder, calls ``build_decoder`` once
for the decoder's modules, and turns its input into the decoder's first state (``DecoderState``)
with ``initial_layers`` (the *bridge*) and ``decoder_state``. Everything after that is here, once:

Decoder (Luong et al. 2015, "global attention with input feeding"), one step for target token
``y_{t-1}``::

    x_t     = [embed(y_{t-1}); a_{t-1}]          input feeding: the previous attentional vector
    h_t     = decoder cells(x_t, h_{t-1})         a stack of ``rnnkit`` cells, stepped directly
    c_t, w_t = attention(h_t, memory, mask)       context (B, M), weights over the memory (B, S)
    a_t     = tanh(W_c [h_t; c_t])                the attentional vector (B, H)
    p(y_t)  = softmax(W_o dropout(a_t))

With ``attention="none"`` there is no context and no input feeding: ``a_t = h_t`` and the bridge
alone carries the input (Sutskever et al. 2014; Vinyals et al. 2015's Show and Tell).

The decoder is an ``rnnkit.RNN`` whose cells are stepped one by one (``cell.project`` then
``cell.step``): input feeding makes each step's input depend on the previous step's output, so the
time loop cannot be handed to a fused kernel.

``decode`` runs the decoder over a target under teacher forcing with a ratio (scheduled sampling,
Bengio et al. 2015, when the ratio decays over training); ``search`` drives
``rnnkit.decoding.greedy_search`` or ``beam_search`` with ``step``; every tensor of the state keeps
its rows in dim 0. The memory, its keys and mask are ``SHARED``: a beam search keeps them once per
input (``B`` rows) while the layers and feed have a row per hypothesis (``B * K``), and the
attention broadcasts each input's memory over its hypotheses, so no step copies the memory.

The modules keep the attribute names ``target_embedding``, ``decoder``, ``bridge``,
``attention``, ``combine`` and ``output`` (or ``output_projection`` and ``output_bias`` when
tied), so a model's weights are named as they were before this class was shared.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import State
from rnnkit.decoding import SearchResult, beam_search, greedy_search
from rnnkit.decoding.state import SHARED
from rnnkit.layers import RNN
from rnnkit.layers.attention import ATTENTION_KINDS, make_attention
from rnnkit.layers.dropout import dropout
from rnnkit.layers.losses import linear_cross_entropy
from rnnkit.layers.recurrent import as_tuple, from_tuple
from rnnkit.models.config import KeepsArguments, check_choice

ATTENTION_CHOICES = (*ATTENTION_KINDS, "none")
BRIDGES = ("linear", "zero")

# The decoder's state as the search functions carry it: a dict whose tensors all have rows in
# dim 0: "layers" (one cell state per decoder layer), "feed" (the previous attentional vector, or
# None), "memory" (B, S, M), "keys" (the attention's prepared memory, or None), "mask" (B, S).
# "layers" and "feed" have N rows, a multiple of the memory's B (N = B * K in a beam search).
DecoderState = dict[str, Any]
_PER_INPUT = ("memory", "keys", "mask")


class AttentionDecoder(KeepsArguments):
    """Base class of the models whose output is a token sequence decoded with attention.

    A subclass's ``__init__`` calls ``build_decoder`` and its encoding method returns
    ``decoder_state(...)``; it sets ``dropout`` (a probability) before using ``_drop``.
    """

    dropout: float
    pad_id: int
    bos_id: int
    eos_id: int

    def build_decoder(
        self,
        *,
        target_embedding: nn.Embedding,
        memory_size: int,
        summary_size: int,
        decoder_hidden: int,
        decoder_layers: int,
        cell: str,
        attention: str,
        attention_size: int | None,
        input_feeding: bool,
        bridge: str,
        tie_embeddings: bool,
    ) -> None:
        """Create the decoder's modules (in this order: decoder cells, bridge, attention,
        combination, output layer).

        ``target_embedding``: the ``(V_t, E)`` embedding of the output tokens; ``memory_size``:
        ``M``, the width of each memory position; ``summary_size``: the width of the vector the
        bridge maps to the first state. ``bridge``: ``"linear"`` (``tanh`` of a linear map of the
        summary) or ``"zero"``. ``tie_embeddings``: the output layer maps ``H -> E`` and scores
        against every target embedding, plus a bias per token (Press & Wolf 2017).
        """
        check_choice("attention", attention, ATTENTION_CHOICES)
        check_choice("bridge", bridge, BRIDGES)
        self.attention_kind = attention
        self.input_feeding = input_feeding and attention != "none"
        self.target_embedding = target_embedding
        vocab_size, embedding_size = target_embedding.weight.shape
        decoder_input = embedding_size + (decoder_hidden if self.input_feeding else 0)
        self.decoder = RNN(cell, decoder_input, decoder_hidden, num_layers=decoder_layers)
        self.bridge = (
            nn.ModuleList(
                nn.Linear(summary_size, decoder_layers * size) for size in self.decoder.state_sizes
            )
            if bridge == "linear"
            else None
        )
        if attention == "none":
            self.attention = None
            self.combine = None
        else:
            self.attention = make_attention(attention, decoder_hidden, memory_size, attention_size)
            self.combine = nn.Linear(decoder_hidden + memory_size, decoder_hidden, bias=False)
        if tie_embeddings:
            self.output = None
            self.output_projection = nn.Linear(decoder_hidden, embedding_size, bias=False)
            self.output_bias = nn.Parameter(torch.zeros(vocab_size))
        else:
            self.output = nn.Linear(decoder_hidden, vocab_size)

    @property
    def output_vocab_size(self) -> int:
        """``V_t``: the tokens the decoder scores."""
        return self.target_embedding.num_embeddings

    def _drop(self, x: Tensor) -> Tensor:
        return dropout(x, self.dropout, self.training) if self.dropout else x

    # --- the first state --------------------------------------------------------------------------

    def initial_layers(
        self, summary: Tensor | Sequence[Tensor] | None, batch: int, like: Tensor
    ) -> list[State]:
        """The decoder's first state per layer: ``tanh(W summary)`` for a linear bridge, zeros
        otherwise. ``summary``: what the input says as one vector ``(B, F)``, used for every
        component of the cell's state, or one vector per component (``state_sizes``: an LSTM's
        ``h`` and ``c``); ``like``: a tensor of the device and dtype the state takes."""
        layers = self.decoder.num_layers
        if self.bridge is None:
            zeros = self.decoder.initial_state(batch, device=like.device, dtype=like.dtype)
            parts = as_tuple(zeros)
            return [from_tuple(tuple(p[i] for p in parts)) for i in range(layers)]
        if summary is None:
            raise ValueError("a linear bridge needs the input's summary vector, got None")
        summaries = [summary] * len(self.bridge) if isinstance(summary, Tensor) else summary
        per_component = [
            torch.tanh(linear(vector)).chunk(layers, dim=-1)
            for linear, vector in zip(self.bridge, summaries, strict=True)
        ]
        return [from_tuple(tuple(c[i] for c in per_component)) for i in range(layers)]

    def decoder_state(
        self, layers: list[State], memory: Tensor, mask: Tensor | None = None
    ) -> DecoderState:
        """The search state from the first ``layers``, the ``memory (B, S, M)`` and its ``mask
        (B, S)`` (True at real positions; None: all real)."""
        batch = memory.shape[0]
        if mask is None:
            mask = torch.ones(memory.shape[:2], dtype=torch.bool, device=memory.device)
        keys = self.attention.prepare(memory) if self.attention is not None else None
        feed = memory.new_zeros(batch, self.decoder.hidden_size) if self.input_feeding else None
        return {"layers": layers, "feed": feed, "memory": memory, "keys": keys, "mask": mask}

    # --- one step ---------------------------------------------------------------------------------

    def decode_step(
        self, embedded: Tensor, state: DecoderState
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        """One decoder step from the embedded previous token ``(N, E)``.

        Returns ``(features (N, H), new_state, attention weights (N, S) or None)``; the output
        layer turns ``features`` into logits. ``N`` is the memory's ``B`` rows or a multiple
        (hypotheses ``b * N/B ..`` of input ``b`` share its memory row).
        """
        x = torch.cat([embedded, state["feed"]], dim=-1) if self.input_feeding else embedded
        new_layers = []
        for index, (cell, layer_state) in enumerate(
            zip(self.decoder.cells, state["layers"], strict=True)
        ):
            if index > 0:
                x = self._drop(x)
            u = cell.project(x.unsqueeze(1)).squeeze(1)
            x, layer_state = cell.step(u, layer_state)
            new_layers.append(layer_state)
        weights = None
        if self.attention is not None:
            context, weights = self.attention(x, state["memory"], state["mask"], state["keys"])
            x = torch.tanh(self.combine(torch.cat([x, context.to(x.dtype)], dim=-1)))
        new_state = dict(state, layers=new_layers)
        if self.input_feeding:
            new_state["feed"] = x
        return x, new_state, weights

    def logits(self, features: Tensor) -> Tensor:
        """``features (..., H) -> logits (..., V_t)``."""
        weight, bias = self._output_layer()
        return F.linear(self._output_inputs(features), weight, bias)

    def _output_inputs(self, features: Tensor) -> Tensor:
        """What the output layer's matrix multiplies: ``(..., H)``, or ``(..., E)`` when tied."""
        features = self._drop(features)
        if self.output is None:
            features = self.output_projection(features)
        return features

    def _output_layer(self) -> tuple[Tensor, Tensor]:
        """The output layer's weight ``(V_t, H or E)`` and bias ``(V_t,)``."""
        if self.output is None:
            return self.target_embedding.weight, self.output_bias
        return self.output.weight, self.output.bias

    # --- a whole target ---------------------------------------------------------------------------

    def decode(
        self,
        state: DecoderState,
        target_in: Tensor,
        teacher_forcing: float | Tensor = 1.0,
        return_attention: bool = False,
        target_out: Tensor | None = None,
        label_smoothing: float = 0.0,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Logits ``(B, T, V_t)`` of each next target token, or with ``target_out`` the loss.

        ``state``: the decoder's first state (``decoder_state``). ``target_in (B, T)``: bos
        followed by the target (padded), the decoder's inputs under full teacher forcing.
        ``teacher_forcing``: a ratio, or one per row ``(B,)``; below 1, each row is fed its own
        previous prediction instead of the true token with probability ``1 - ratio`` at each step
        (drawn from torch's global generator). ``return_attention`` also returns the attention
        weights ``(B, T, S)`` (zeros without attention).

        ``target_out (B, T)``: the target followed by eos (padded). Given (and without
        ``return_attention``), the result is the mean cross-entropy (with ``label_smoothing``)
        over its non-pad tokens instead of the logits, computed without holding all
        ``B * T * V_t`` logits at once (``linear_cross_entropy``).
        """
        batch, steps = target_in.shape
        ratio = torch.as_tensor(teacher_forcing, dtype=torch.float32, device=target_in.device)
        sampling = bool((ratio < 1).any())
        embedded = self._drop(self.target_embedding(target_in))
        features, all_weights, step_logits = [], [], []
        previous_prediction: Tensor | None = None
        for gold in embedded.unbind(1):
            if sampling and previous_prediction is not None:
                use_gold = torch.rand(batch, device=target_in.device) < ratio
                own = self._drop(self.target_embedding(previous_prediction))
                gold = torch.where(use_gold.unsqueeze(1), gold, own)
            x, state, weights = self.decode_step(gold, state)
            if sampling:
                logits_t = self.logits(x)
                step_logits.append(logits_t)
                previous_prediction = logits_t.detach().argmax(dim=-1)
            else:
                features.append(x)
            if return_attention and weights is not None:
                all_weights.append(weights)
        if target_out is not None and not return_attention:
            if sampling:
                logits = torch.stack(step_logits, dim=1).flatten(0, 1)
                return F.cross_entropy(
                    logits.to(torch.promote_types(logits.dtype, torch.float32)),
                    target_out.flatten(),
                    ignore_index=self.pad_id,
                    label_smoothing=label_smoothing,
                )
            weight, bias = self._output_layer()
            return linear_cross_entropy(
                self._output_inputs(torch.stack(features, dim=1)).flatten(0, 1),
                weight,
                bias,
                target_out.flatten(),
                ignore_index=self.pad_id,
                label_smoothing=label_smoothing,
            )
        if sampling:
            logits = torch.stack(step_logits, dim=1)
        else:
            logits = self.logits(torch.stack(features, dim=1))
        if not return_attention:
            return logits
        if self.attention is None:
            return logits, logits.new_zeros(batch, steps, state["memory"].shape[1])
        return logits, torch.stack(all_weights, dim=1)

    # --- search -----------------------------------------------------------------------------------

    def step(
        self, tokens: Tensor, state: DecoderState, forbidden: Sequence[int] = ()
    ) -> tuple[Tensor, DecoderState]:
        """The search step function: ``tokens (N,)``, state -> ``(log_probs (N, V_t), state)``.

        Padding and bos are never outputs, nor are the ``forbidden`` ids (e.g. the unknown
        token): their logits are masked before the softmax, so the log-probabilities are
        normalised over the tokens an output may contain.
        """
        features, state, _ = self.decode_step(self.target_embedding(tokens), state)
        logits = self.logits(features).float()
        logits[:, [self.pad_id, self.bos_id, *forbidden]] = float("-inf")
        return torch.log_softmax(logits, dim=-1), state

    @torch.no_grad()
    def search(
        self,
        state: DecoderState,
        max_len: int | Tensor,
        beam_size: int = 1,
        length_penalty: float = 0.0,
        no_repeat_ngram: int = 0,
        forbidden_ids: Sequence[int] = (),
    ) -> SearchResult:
        """Decode from the first ``state``: greedy search for ``beam_size == 1``, batched beam
        search otherwise. Call it in eval mode (``generate`` does).

        ``max_len``: the most output tokens (eos included), an int or one per row ``(B,)``.
        ``forbidden_ids``: ids the search never emits (besides pad and bos), such as the unknown
        token.
        """
        forbidden = tuple(int(i) for i in forbidden_ids)
        vocab_size = self.output_vocab_size
        if any(not 0 <= i < vocab_size for i in forbidden):
            raise ValueError(
                f"forbidden_ids must be target ids in 0..{vocab_size - 1}, got {list(forbidden)}"
            )
        if self.eos_id in forbidden:
            raise ValueError("forbidden_ids must not contain eos: every output needs its end")
        common = dict(
            step=functools.partial(self.step, forbidden=forbidden),
            initial_state=state,
            batch_size=state["memory"].shape[0],
            bos_id=self.bos_id,
            eos_id=self.eos_id,
            max_len=max_len,
            no_repeat_ngram=no_repeat_ngram,
            state_dims={key: SHARED if key in _PER_INPUT else 0 for key in state},
            pad_id=self.pad_id,
        )
        if beam_size == 1:
            return greedy_search(**common)
        return beam_search(**common, beam_size=beam_size, length_penalty=length_penalty)

    def encode(self, inputs: Tensor, lengths: Tensor | None) -> DecoderState:
        """The decoder's first state from a batch of inputs (source tokens, images, keywords)
        and their lengths: each subclass's encoder."""
        raise NotImplementedError

    @torch.no_grad()
    def generate(
        self,
        inputs: Tensor,
        lengths: Tensor | None,
        max_len: int | Tensor,
        beam_size: int = 1,
        length_penalty: float = 0.0,
        no_repeat_ngram: int = 0,
        forbidden_ids: Sequence[int] = (),
    ) -> SearchResult:
        """Decode a batch of inputs (``search`` from ``encode(inputs, lengths)``) in eval mode,
        restoring the model's mode afterwards."""
        was_training = self.training
        self.eval()
        try:
            return self.search(
                self.encode(inputs, lengths),
                max_len,
                beam_size=beam_size,
                length_penalty=length_penalty,
                no_repeat_ngram=no_repeat_ngram,
                forbidden_ids=forbidden_ids,
            )
        finally:
            self.train(was_training)

    @torch.no_grad()
    def attention_of_inputs(
        self, inputs: Tensor, lengths: Tensor | None, output: Sequence[Sequence[int]]
    ) -> Tensor:
        """``attention_of`` from ``encode(inputs, lengths)``, in eval mode: ``(B, T, S)``."""
        was_training = self.training
        self.eval()
        try:
            return self.attention_of(self.encode(inputs, lengths), output)
        finally:
            self.train(was_training)

    @torch.no_grad()
    def attention_of(self, state: DecoderState, output: Sequence[Sequence[int]]) -> Tensor:
        """The attention ``(B, T, S)`` each output token paid to the memory, as the decoder
        produced it from the first ``state``: ``output`` holds each row's generated ids (without
        bos/eos); ``T`` is the longest plus one (the step that emitted eos). Call it in eval mode.
        """
        if self.attention is None:
            raise ValueError("the model has no attention (attention='none')")
        device = state["memory"].device
        steps = max(len(row) for row in output) + 1
        target_in = torch.full((len(output), steps), self.pad_id, dtype=torch.long, device=device)
        target_in[:, 0] = self.bos_id
        for row, ids in enumerate(output):
            target_in[row, 1 : len(ids) + 1] = torch.as_tensor(ids, dtype=torch.long)
        _, weights = self.decode(state, target_in, return_attention=True)
        return weights
