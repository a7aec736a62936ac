"""One-to-many generation: a sentence from an image (captioning) or from a few keywords.

The input becomes a *memory* ``(B, S, M)`` the decoder attends to and a *summary* ``(B, M)`` its
first state is bridged from; the decoder is translation's (``AttentionDecoder``: Luong attention
with input feeding, teacher forcing with a ratio, greedy and beam search).

- ``input_kind="image"``: ``ImageEncoder``'s feature map, ``S = P`` positions, plus a learned
  embedding of each position (so the decoder can say *where* it looked: the features alone need
  not tell left from right); the summary is the mean feature vector. Show, Attend and Tell (Xu et
  al. 2015) with Show and Tell's initial state (Vinyals et al. 2015). ``freeze_encoder`` keeps the
  CNN's weights as loaded and the CNN in eval mode, so its batch-norm statistics stay as loaded
  too (a pretrained encoder: "trained separately", from a caption or classify ``--images cnn``
  run).
- ``input_kind="keywords"``: an embedding of each keyword ``(B, K, E)`` (padded, masked), the
  summary their mean: the same decoder conditioned on a few tokens.

``forward`` gives the training loss, optionally with the doubly stochastic attention
regularisation of Xu et al. (2015, eq. 14), which asks every position to receive, summed over the
caption's steps, about one unit of attention::

    loss = cross-entropy + attention_penalty * mean_b sum_s (1 - sum_t alpha_bts)^2
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.layers.sequences import lengths_to_mask
from rnnkit.models.attention_decoder import AttentionDecoder, DecoderState
from rnnkit.models.config import check_choice, check_fraction, constructor_arguments
from rnnkit.models.image_encoder import ImageEncoder

INPUT_KINDS = ("image", "keywords")


class Captioner(AttentionDecoder):
    """Images ``(B, C, S, S)`` or keyword ids ``(B, K)`` -> caption ids.

    Args:
        vocab_size: ``V``, the caption vocabulary.
        input_kind: ``"image"`` or ``"keywords"``.
        image_channels, image_size, encoder_widths: the ``ImageEncoder`` (images only).
        keyword_vocab_size: the keyword vocabulary (keywords only).
        embedding_size: ``E``, the width of word (and keyword) embeddings.
        decoder_hidden, decoder_layers, cell, attention, attention_size, input_feeding, bridge,
        tie_embeddings: the decoder (``AttentionDecoder.build_decoder``).
        dropout: on embeddings, between decoder layers and before the output layer.
        freeze_encoder: the image encoder's weights do not train.
        pad_id, bos_id, eos_id: special ids of the caption tokenizer.
    """

    def __init__(
        self,
        vocab_size: int,
        input_kind: str = "image",
        image_channels: int = 1,
        image_size: int = 64,
        encoder_widths: Sequence[int] = (16, 32, 64),
        keyword_vocab_size: int = 0,
        embedding_size: int = 128,
        decoder_hidden: int = 256,
        decoder_layers: int = 1,
        cell: str = "gru",
        attention: str = "bahdanau",
        attention_size: int | None = None,
        input_feeding: bool = True,
        bridge: str = "linear",
        dropout: float = 0.1,
        tie_embeddings: bool = False,
        freeze_encoder: bool = False,
        pad_id: int = 0,
        bos_id: int = 2,
        eos_id: int = 3,
    ) -> None:
        super().__init__()
        check_choice("input_kind", input_kind, INPUT_KINDS)
        check_fraction("dropout", dropout)
        if input_kind == "keywords" and keyword_vocab_size < 1:
            raise ValueError("input_kind='keywords' needs keyword_vocab_size >= 1")
        self._config = constructor_arguments(Captioner.__init__, locals())
        self._config["encoder_widths"] = [int(w) for w in encoder_widths]
        self.input_kind = input_kind
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.dropout = dropout
        self.freeze_encoder = freeze_encoder
        if input_kind == "image":
            self.encoder = ImageEncoder(image_channels, image_size, encoder_widths)
            rows, columns = self.encoder.grid
            memory_size = self.encoder.feature_size
            self.positions = nn.Parameter(torch.zeros(rows * columns, memory_size))
            nn.init.normal_(self.positions, std=0.1)
            self.encoder.requires_grad_(not freeze_encoder)
        else:
            self.encoder = nn.Embedding(keyword_vocab_size, embedding_size, padding_idx=pad_id)
            memory_size = embedding_size
        self.build_decoder(
            target_embedding=nn.Embedding(vocab_size, embedding_size),
            memory_size=memory_size,
            summary_size=memory_size,
            decoder_hidden=decoder_hidden,
            decoder_layers=decoder_layers,
            cell=cell,
            attention=attention,
            attention_size=attention_size,
            input_feeding=input_feeding,
            bridge=bridge,
            tie_embeddings=tie_embeddings,
        )

    def train(self, mode: bool = True) -> Captioner:
        """As ``nn.Module.train``; a frozen encoder stays in eval mode."""
        super().train(mode)
        if self.freeze_encoder:
            self.encoder.eval()
        return self

    @property
    def grid(self) -> tuple[int, int] | None:
        """The (rows, columns) of the image memory's positions; None for keywords."""
        return self.encoder.grid if self.input_kind == "image" else None

    # --- encoder ----------------------------------------------------------------------------------

    def encode(self, inputs: Tensor, lengths: Tensor | None = None) -> DecoderState:
        """The decoder's first state from normalised images ``(B, C, S, S)``, or from keyword ids
        ``(B, K)`` with their ``lengths (B,)``."""
        if self.input_kind == "image":
            memory, summary = self.encoder(inputs)
            memory = memory + self.positions
            mask = None
        else:
            if lengths is None:
                raise ValueError("keyword inputs need their lengths")
            mask = lengths_to_mask(lengths, inputs.shape[1], device=inputs.device)
            memory = self._drop(self.encoder(inputs))
            weights = mask.unsqueeze(-1).to(memory.dtype)
            summary = (memory * weights).sum(1) / weights.sum(1).clamp(min=1)
        batch = inputs.shape[0]
        return self.decoder_state(self.initial_layers(summary, batch, memory), memory, mask)

    # --- training ---------------------------------------------------------------------------------

    def forward(
        self,
        inputs: Tensor,
        lengths: Tensor | None,
        target_in: Tensor,
        teacher_forcing: float | Tensor = 1.0,
        target_out: Tensor | None = None,
        label_smoothing: float = 0.0,
        attention_penalty: float = 0.0,
    ) -> Tensor:
        """Logits ``(B, T, V)``, or with ``target_out (B, T)`` the mean loss over its non-pad
        tokens plus ``attention_penalty`` times the doubly stochastic regularisation (module
        doc). ``target_in``: bos and the caption, padded; see ``AttentionDecoder.decode``."""
        state = self.encode(inputs, lengths)
        if target_out is None or attention_penalty == 0.0 or self.attention is None:
            return self.decode(
                state,
                target_in,
                teacher_forcing=teacher_forcing,
                target_out=target_out,
                label_smoothing=label_smoothing,
            )
        logits, weights = self.decode(
            state, target_in, teacher_forcing=teacher_forcing, return_attention=True
        )
        loss = F.cross_entropy(
            logits.flatten(0, 1).float(),
            target_out.flatten(),
            ignore_index=self.pad_id,
            label_smoothing=label_smoothing,
        )
        return loss + attention_penalty * attention_regularisation(
            weights, target_out != self.pad_id
        )

    # --- search -----------------------------------------------------------------------------------

    @torch.no_grad()
    def attention_maps(
        self, inputs: Tensor, lengths: Tensor | None, output: Sequence[Sequence[int]]
    ) -> list[Tensor]:
        """Per row, the attention ``(len(output) + 1, S)`` each generated token (and the eos
        step, last) paid to the memory's positions."""
        weights = self.attention_of_inputs(inputs, lengths, output)
        return [weights[row, : len(ids) + 1] for row, ids in enumerate(output)]


def attention_regularisation(weights: Tensor, steps: Tensor) -> Tensor:
    """Xu et al.'s doubly stochastic penalty ``mean_b sum_s (1 - sum_t alpha_bts)^2``.

    ``weights (B, T, S)``: the attention of each step; ``steps (B, T)``: True at the caption's
    real steps (the padded ones are not summed).
    """
    received = (weights * steps.unsqueeze(-1).to(weights.dtype)).sum(dim=1)  # (B, S)
    return (1.0 - received).pow(2).sum(dim=1).mean()
