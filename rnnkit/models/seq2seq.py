"""An encoder–decoder (sequence-to-sequence) model with attention, for translation-like tasks.

Encoder: embedding -> ``rnnkit.RNN`` (bidirectional by default) over the padded source, with its
lengths, so padding never leaks. Its outputs are the *memory* ``(B, S, M)`` the decoder attends to;
a *bridge* maps the top layer's final state to the decoder's initial state.

Decoder (Luong et al. 2015, "global attention with input feeding"), one step for target token
``y_{t-1}``::

    x_t     = [embed(y_{t-1}); a_{t-1}]          input feeding: the previous attentional vector
    h_t     = decoder cells(x_t, h_{t-1})         a stack of ``rnnkit`` cells, stepped directly
    c_t, w_t = attention(h_t, memory, mask)       context (B, M), weights over the source (B, S)
    a_t     = tanh(W_c [h_t; c_t])                the attentional vector (B, H)
    p(y_t)  = softmax(W_o dropout(a_t))

With ``attention="none"`` there is no context and no input feeding: ``a_t = h_t`` and the bridge
alone carries the source (a plain Sutskever et al. 2014 encoder–decoder).

The decoder is an ``rnnkit.RNN`` whose cells are stepped one by one (``cell.project`` then
``cell.step``): input feeding makes each step's input depend on the previous step's output, so the
time loop cannot be handed to a fused kernel, and calling the cells directly avoids the layer's
per-call checks at every decoding step.

Training uses teacher forcing with a ratio: each row, at each step, is fed the true previous token
with probability ``teacher_forcing`` and the model's own previous prediction otherwise (scheduled
sampling, Bengio et al. 2015, when the ratio decays over training). ``step`` is the function
``rnnkit.decoding.greedy_search`` and ``beam_search`` drive; every tensor of its state keeps its
rows in dim 0 (``state_dims=0``).
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
from rnnkit.layers import RNN
from rnnkit.layers.attention import ATTENTION_KINDS, make_attention
from rnnkit.layers.dropout import dropout
from rnnkit.layers.losses import linear_cross_entropy
from rnnkit.layers.recurrent import as_tuple, from_tuple
from rnnkit.layers.sequences import lengths_to_mask
from rnnkit.models.config import (
    KeepsArguments,
    check_choice,
    check_fraction,
    constructor_arguments,
)

ATTENTION_CHOICES = (*ATTENTION_KINDS, "none")
BRIDGES = ("linear", "zero")

# The decoder's state as the search functions carry it: a dict whose tensors all have rows in
# dim 0: "layers" (one cell state per decoder layer), "feed" (the previous attentional vector, or
# None), "memory" (B, S, M), "keys" (the attention's prepared memory, or None), "mask" (B, S).
DecoderState = dict[str, Any]


class Seq2Seq(KeepsArguments):
    """Encoder–decoder over source ids ``(B, S)`` and target ids ``(B, T)``.

    Args:
        source_vocab_size, target_vocab_size: ``V_s`` and ``V_t``.
        embedding_size: ``E``, width of source and target embeddings.
        encoder_hidden, encoder_layers: hidden size and depth of the encoder.
        bidirectional: whether the encoder reads the source both ways (``D = 2``).
        decoder_hidden, decoder_layers: hidden size ``H`` and depth of the decoder.
        cell: any cell name ``rnnkit.RNN`` accepts, for encoder and decoder.
        attention: ``"bahdanau"``, ``"luong-dot"``, ``"luong-general"`` or ``"none"``.
        attention_size: width inside the additive score (default ``H``).
        input_feeding: feed the previous attentional vector to the decoder (with attention only).
        bridge: ``"linear"`` (``tanh`` of a linear map of the encoder's final state) or ``"zero"``.
        dropout: on embeddings, between layers and before the output layer.
        share_embeddings: one embedding matrix for source and target (needs ``V_s == V_t``).
        tie_embeddings: the output layer reuses the target embedding matrix (Press & Wolf 2017;
            Inan et al. 2017): features are mapped ``H -> E`` by a linear layer, then scored
            against every target embedding, plus a bias per token. Fewer parameters, and a
            smaller output product (``E`` instead of ``H`` wide).
        pad_id, bos_id, eos_id: special ids (the tokenizers' 0, 2, 3).
    """

    def __init__(
        self,
        source_vocab_size: int,
        target_vocab_size: int,
        embedding_size: int = 256,
        encoder_hidden: int = 256,
        encoder_layers: int = 2,
        bidirectional: bool = True,
        decoder_hidden: int = 512,
        decoder_layers: int = 1,
        cell: str = "gru",
        attention: str = "bahdanau",
        attention_size: int | None = None,
        input_feeding: bool = True,
        bridge: str = "linear",
        dropout: float = 0.2,
        share_embeddings: bool = False,
        tie_embeddings: bool = False,
        pad_id: int = 0,
        bos_id: int = 2,
        eos_id: int = 3,
    ) -> None:
        super().__init__()
        check_choice("attention", attention, ATTENTION_CHOICES)
        check_choice("bridge", bridge, BRIDGES)
        check_fraction("dropout", dropout)
        if share_embeddings and source_vocab_size != target_vocab_size:
            raise ValueError(
                "share_embeddings needs one vocabulary, got source and target sizes "
                f"{source_vocab_size} and {target_vocab_size}"
            )
        self._config = constructor_arguments(Seq2Seq.__init__, locals())
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.dropout = dropout
        self.attention_kind = attention
        self.input_feeding = input_feeding and attention != "none"

        self.source_embedding = nn.Embedding(source_vocab_size, embedding_size)
        self.target_embedding = (
            self.source_embedding
            if share_embeddings
            else nn.Embedding(target_vocab_size, embedding_size)
        )
        self.encoder = RNN(
            cell,
            embedding_size,
            encoder_hidden,
            num_layers=encoder_layers,
            bidirectional=bidirectional,
            dropout=dropout,
        )
        memory_size = self.encoder.output_size
        decoder_input = embedding_size + (decoder_hidden if self.input_feeding else 0)
        self.decoder = RNN(cell, decoder_input, decoder_hidden, num_layers=decoder_layers)
        state_sizes = self.decoder.state_sizes
        self.bridge = (
            nn.ModuleList(nn.Linear(memory_size, decoder_layers * size) for size in state_sizes)
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
            self.output_bias = nn.Parameter(torch.zeros(target_vocab_size))
        else:
            self.output = nn.Linear(decoder_hidden, target_vocab_size)

    # --- configuration (config() and from_config(): KeepsArguments) -------------------------------

    @property
    def target_vocab_size(self) -> int:
        return self._config["target_vocab_size"]

    def _drop(self, x: Tensor) -> Tensor:
        return dropout(x, self.dropout, self.training) if self.dropout else x

    # --- encoder ----------------------------------------------------------------------------------

    def encode(self, source: Tensor, lengths: Tensor) -> DecoderState:
        """Run the encoder: ``source (B, S)`` ids, ``lengths (B,)`` -> the decoder's first state."""
        if source.dim() != 2:
            raise ValueError(f"source must be (B, S) ids, got shape {tuple(source.shape)}")
        embedded = self._drop(self.source_embedding(source))
        memory, final = self.encoder(embedded, lengths=lengths)
        mask = lengths_to_mask(lengths, source.shape[1], device=source.device)
        batch = source.shape[0]
        layers = self._bridge(final, batch, memory)
        keys = self.attention.prepare(memory) if self.attention is not None else None
        feed = memory.new_zeros(batch, self.decoder.hidden_size) if self.input_feeding else None
        return {"layers": layers, "feed": feed, "memory": memory, "keys": keys, "mask": mask}

    def _bridge(self, final: State, batch: int, memory: Tensor) -> list[State]:
        """The decoder's initial state per layer from the encoder's final state (torch layout)."""
        layers = self.decoder.num_layers
        if self.bridge is None:
            zeros = self.decoder.initial_state(batch, device=memory.device, dtype=memory.dtype)
            parts = as_tuple(zeros)
            return [from_tuple(tuple(p[i] for p in parts)) for i in range(layers)]
        directions = self.encoder.num_directions
        top = slice(len(self.encoder.cells) - directions, len(self.encoder.cells))
        per_component = []
        for component, linear in zip(as_tuple(final), self.bridge, strict=True):
            # the top layer's (D, B, H_e) -> (B, D * H_e): both directions' summaries side by side
            summary = component[top].transpose(0, 1).reshape(batch, -1)
            per_component.append(torch.tanh(linear(summary)).chunk(layers, dim=-1))
        return [from_tuple(tuple(c[i] for c in per_component)) for i in range(layers)]

    # --- decoder ----------------------------------------------------------------------------------

    def decode_step(
        self, embedded: Tensor, state: DecoderState
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        """One decoder step from the embedded previous token ``(B, E)``.

        Returns ``(features (B, H), new_state, attention weights (B, S) or None)``; the output
        layer turns ``features`` into logits.
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

    def forward(
        self,
        source: Tensor,
        source_lengths: Tensor,
        target_in: Tensor,
        teacher_forcing: float | Tensor = 1.0,
        return_attention: bool = False,
        target_out: Tensor | None = None,
        label_smoothing: float = 0.0,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Logits ``(B, T, V_t)`` of each next target token, or with ``target_out`` the loss.

        ``target_in (B, T)``: bos followed by the target (padded), the decoder's inputs under full
        teacher forcing. ``teacher_forcing``: a ratio, or one per row ``(B,)``; below 1, each row is
        fed its own previous prediction instead of the true token with probability ``1 - ratio``
        at each step (drawn from torch's global generator). ``return_attention`` also returns the
        attention weights ``(B, T, S)`` (zeros without attention).

        ``target_out (B, T)``: the target followed by eos (padded). Given, the result is the mean
        cross-entropy (with ``label_smoothing``) over its non-pad tokens instead of the logits,
        computed without holding all ``B * T * V_t`` logits at once (``linear_cross_entropy``).
        The loss is the forward's result, so a ``DistributedDataParallel`` wrapper sees it.
        """
        state = self.encode(source, source_lengths)
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
            return logits, logits.new_zeros(batch, steps, source.shape[1])
        return logits, torch.stack(all_weights, dim=1)

    # --- search -----------------------------------------------------------------------------------

    def step(
        self, tokens: Tensor, state: DecoderState, forbidden: Sequence[int] = ()
    ) -> tuple[Tensor, DecoderState]:
        """The search step function: ``tokens (N,)``, state -> ``(log_probs (N, V_t), state)``.

        Padding and bos are never outputs, nor are the ``forbidden`` ids (e.g. the unknown
        token): their logits are masked before the softmax, so the log-probabilities are
        normalised over the tokens a translation may contain.
        """
        features, state, _ = self.decode_step(self.target_embedding(tokens), state)
        logits = self.logits(features).float()
        logits[:, [self.pad_id, self.bos_id, *forbidden]] = float("-inf")
        return torch.log_softmax(logits, dim=-1), state

    @torch.no_grad()
    def generate(
        self,
        source: Tensor,
        source_lengths: Tensor,
        max_len: int | Tensor,
        beam_size: int = 1,
        length_penalty: float = 0.0,
        no_repeat_ngram: int = 0,
        forbidden_ids: Sequence[int] = (),
    ) -> SearchResult:
        """Translate a batch: greedy search for ``beam_size == 1``, batched beam search otherwise.

        ``max_len``: the most target tokens (eos included), an int or one per row ``(B,)``.
        ``forbidden_ids``: target ids the search never emits (besides pad and bos), such as the
        unknown token. The model is put in eval mode for the search and restored afterwards.
        """
        forbidden = tuple(int(i) for i in forbidden_ids)
        if any(not 0 <= i < self.target_vocab_size for i in forbidden):
            raise ValueError(
                f"forbidden_ids must be target ids in 0..{self.target_vocab_size - 1}, "
                f"got {list(forbidden)}"
            )
        if self.eos_id in forbidden:
            raise ValueError("forbidden_ids must not contain eos: every output needs its end")
        was_training = self.training
        self.eval()
        try:
            state = self.encode(source, source_lengths)
            common = dict(
                step=functools.partial(self.step, forbidden=forbidden),
                initial_state=state,
                batch_size=source.shape[0],
                bos_id=self.bos_id,
                eos_id=self.eos_id,
                max_len=max_len,
                no_repeat_ngram=no_repeat_ngram,
                state_dims=0,
                pad_id=self.pad_id,
            )
            if beam_size == 1:
                return greedy_search(**common)
            return beam_search(**common, beam_size=beam_size, length_penalty=length_penalty)
        finally:
            self.train(was_training)

    @torch.no_grad()
    def attention_weights(
        self, source: Tensor, source_lengths: Tensor, output: Sequence[Sequence[int]]
    ) -> list[Tensor]:
        """The attention each output token paid to the source, as the decoder produced it.

        ``output``: the generated ids of each row (without bos/eos). Returns per row a
        ``(len(output) + 1, S_b)`` matrix (the last row is the step that emitted eos).
        """
        if self.attention is None:
            raise ValueError("the model has no attention (attention='none')")
        was_training = self.training
        self.eval()
        try:
            steps = max(len(row) for row in output) + 1
            target_in = torch.full(
                (len(output), steps), self.pad_id, dtype=torch.long, device=source.device
            )
            target_in[:, 0] = self.bos_id
            for row, ids in enumerate(output):
                target_in[row, 1 : len(ids) + 1] = torch.as_tensor(ids, dtype=torch.long)
            _, weights = self.forward(source, source_lengths, target_in, return_attention=True)
        finally:
            self.train(was_training)
        return [
            weights[row, : len(ids) + 1, : int(source_lengths[row])]
            for row, ids in enumerate(output)
        ]
