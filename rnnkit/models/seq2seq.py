"""An encoder–decoder (sequence-to-sequence) model with attention, for translation-like tasks.

Encoder: embedding -> ``rnnkit.RNN`` (bidirectional by default) over the padded source, with its
lengths, so padding never leaks. Its outputs are the *memory* ``(B, S, M)`` the decoder attends to;
a *bridge* maps the top layer's final state to the decoder's initial state.

The decoder (Luong et al. 2015's global attention with input feeding, teacher forcing with a
ratio, greedy and beam search) is ``rnnkit.models.attention_decoder.AttentionDecoder``, which
image captioning's ``Captioner`` shares; this module adds the encoder and the source side.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from rnnkit.cells.base import State
from rnnkit.layers import RNN
from rnnkit.layers.recurrent import as_tuple
from rnnkit.layers.sequences import lengths_to_mask
from rnnkit.models.attention_decoder import (
    ATTENTION_CHOICES,
    BRIDGES,
    AttentionDecoder,
    DecoderState,
)
from rnnkit.models.config import check_choice, check_fraction, constructor_arguments

__all__ = ["ATTENTION_CHOICES", "BRIDGES", "DecoderState", "Seq2Seq"]


class Seq2Seq(AttentionDecoder):
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
        check_fraction("dropout", dropout)
        if share_embeddings and source_vocab_size != target_vocab_size:
            raise ValueError(
                "share_embeddings needs one vocabulary, got source and target sizes "
                f"{source_vocab_size} and {target_vocab_size}"
            )
        check_choice("attention", attention, ATTENTION_CHOICES)
        check_choice("bridge", bridge, BRIDGES)
        self._config = constructor_arguments(Seq2Seq.__init__, locals())
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.dropout = dropout

        self.source_embedding = nn.Embedding(source_vocab_size, embedding_size)
        # registered here, before the encoder, so that parameters keep the order an optimiser's
        # state (in a checkpoint) was saved in before the decoder was shared
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
        self.build_decoder(
            target_embedding=self.target_embedding,
            memory_size=self.encoder.output_size,
            summary_size=self.encoder.output_size,
            decoder_hidden=decoder_hidden,
            decoder_layers=decoder_layers,
            cell=cell,
            attention=attention,
            attention_size=attention_size,
            input_feeding=input_feeding,
            bridge=bridge,
            tie_embeddings=tie_embeddings,
        )

    # --- configuration (config() and from_config(): KeepsArguments) -------------------------------

    @property
    def target_vocab_size(self) -> int:
        return self._config["target_vocab_size"]

    # --- encoder ----------------------------------------------------------------------------------

    def encode(self, source: Tensor, lengths: Tensor) -> DecoderState:
        """Run the encoder: ``source (B, S)`` ids, ``lengths (B,)`` -> the decoder's first state."""
        if source.dim() != 2:
            raise ValueError(f"source must be (B, S) ids, got shape {tuple(source.shape)}")
        embedded = self._drop(self.source_embedding(source))
        memory, final = self.encoder(embedded, lengths=lengths)
        mask = lengths_to_mask(lengths, source.shape[1], device=source.device)
        batch = source.shape[0]
        layers = self.initial_layers(self._summary(final, batch), batch, memory)
        return self.decoder_state(layers, memory, mask)

    def _summary(self, final: State, batch: int) -> list[Tensor] | None:
        """The top encoder layer's final state as the bridge reads it: per state component (an
        LSTM's ``h`` and ``c``), ``(D, B, H_e) -> (B, D * H_e)``, both directions' summaries side
        by side; None without a bridge."""
        if self.bridge is None:
            return None
        directions = self.encoder.num_directions
        top = slice(len(self.encoder.cells) - directions, len(self.encoder.cells))
        return [component[top].transpose(0, 1).reshape(batch, -1) for component in as_tuple(final)]

    # --- training and search ----------------------------------------------------------------------

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
        """Logits ``(B, T, V_t)`` of each next target token, or with ``target_out`` the loss
        (``AttentionDecoder.decode`` after encoding ``source (B, S)``). The loss is the
        forward's result, so a ``DistributedDataParallel`` wrapper sees it."""
        state = self.encode(source, source_lengths)
        return self.decode(
            state,
            target_in,
            teacher_forcing=teacher_forcing,
            return_attention=return_attention,
            target_out=target_out,
            label_smoothing=label_smoothing,
        )

    @torch.no_grad()
    def attention_weights(
        self, source: Tensor, source_lengths: Tensor, output: Sequence[Sequence[int]]
    ) -> list[Tensor]:
        """The attention each output token paid to the source, as the decoder produced it.

        ``output``: the generated ids of each row (without bos/eos). Returns per row a
        ``(len(output) + 1, S_b)`` matrix (the last row is the step that emitted eos).
        """
        weights = self.attention_of_inputs(source, source_lengths, output)
        return [
            weights[row, : len(ids) + 1, : int(source_lengths[row])]
            for row, ids in enumerate(output)
        ]
