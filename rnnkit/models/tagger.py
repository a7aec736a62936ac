"""Aligned many-to-many: a sequence tagger (one label per token), as in Lample et al. 2016.

Each word is represented by its word embedding, optionally concatenated with character-level
features: a bidirectional RNN reads the word's characters, and its final forward and backward
states describe the word's spelling (prefixes, suffixes, capitals), which helps with words never
seen in training. A bidirectional RNN then reads the sentence, and a linear layer scores the tags
of each token. Padding is masked throughout; logits at padded positions are meaningless.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.layers import RNN
from rnnkit.layers.dropout import dropout
from rnnkit.layers.recurrent import as_tuple
from rnnkit.models.config import KeepsArguments, check_fraction, constructor_arguments


class CharacterEncoder(nn.Module):
    """Characters of each word -> one vector per word from a bidirectional RNN's final states.

    ``forward(chars (B, T, C), char_lengths (B, T)) -> (B, T, 2 * H_c)``. Padded word slots
    (length 0) get zeros.
    """

    def __init__(
        self, vocab_size: int, embedding_size: int, hidden_size: int, cell: str = "lstm"
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=0)
        self.rnn = RNN(cell, embedding_size, hidden_size, bidirectional=True)
        self.output_size = 2 * hidden_size

    def forward(self, chars: Tensor, char_lengths: Tensor) -> Tensor:
        if torch.compiler.is_exporting():
            return self.every_slot(chars, char_lengths)
        batch, words, letters = chars.shape
        flat_chars = chars.reshape(batch * words, letters)
        flat_lengths = char_lengths.reshape(batch * words)
        real = flat_lengths > 0
        out = self.embedding.weight.new_zeros(batch * words, self.output_size)
        if bool(real.any()):
            embedded = self.embedding(flat_chars[real])
            _, state = self.rnn(embedded, lengths=flat_lengths[real].cpu())
            hidden = as_tuple(state)[0]  # (2, N, H_c): forward and backward final states
            out[real] = torch.cat([hidden[0], hidden[1]], dim=-1)
        return out.reshape(batch, words, self.output_size)

    def every_slot(self, chars: Tensor, char_lengths: Tensor) -> Tensor:
        """``forward`` without picking the real words out: every word slot runs (a padded one
        as one padding character) and padded slots are zeroed afterwards. The same result at
        more cost; an exported graph needs it, as the number of real words is data."""
        batch, words, letters = chars.shape
        flat_lengths = char_lengths.reshape(batch * words)
        embedded = self.embedding(chars.reshape(batch * words, letters))
        _, state = self.rnn(embedded, lengths=flat_lengths.clamp(min=1))
        hidden = as_tuple(state)[0]
        real = (flat_lengths > 0).unsqueeze(-1).to(embedded.dtype)
        out = torch.cat([hidden[0], hidden[1]], dim=-1) * real
        return out.reshape(batch, words, self.output_size)


class SequenceTagger(KeepsArguments):
    """Word embedding (+ character features) -> bidirectional RNN -> per-token linear head.

    Args:
        vocab_size: word vocabulary size (id 0 is padding, 1 unknown).
        num_tags: ``K``.
        embedding_size: width of a word embedding.
        hidden_size: hidden size of the sentence RNN (per direction).
        num_layers: stacked layers of the sentence RNN.
        cell: any cell name ``rnnkit.RNN`` accepts (sentence and character RNNs).
        char_vocab_size: character vocabulary size; 0 turns character features off.
        char_embedding_size, char_hidden_size: sizes of the character RNN.
        dropout: on the word representations and before the head.
        **cell_options: passed to each cell of the sentence RNN.

    ``forward(words (B, T), lengths (B,), chars (B, T, C) | None, char_lengths (B, T) | None)``
    -> logits ``(B, T, K)``.
    """

    def __init__(
        self,
        vocab_size: int,
        num_tags: int,
        embedding_size: int = 100,
        hidden_size: int = 128,
        num_layers: int = 1,
        cell: str = "lstm",
        char_vocab_size: int = 0,
        char_embedding_size: int = 25,
        char_hidden_size: int = 25,
        dropout: float = 0.0,
        backend: str = "auto",
        **cell_options: Any,
    ) -> None:
        super().__init__()
        if num_tags < 1:
            raise ValueError(f"num_tags must be >= 1, got {num_tags}")
        check_fraction("dropout", dropout)
        self._config = constructor_arguments(SequenceTagger.__init__, locals())
        self.dropout = dropout
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=0)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        features = embedding_size
        if char_vocab_size:
            self.chars: CharacterEncoder | None = CharacterEncoder(
                char_vocab_size, char_embedding_size, char_hidden_size, cell
            )
            features += self.chars.output_size
        else:
            self.chars = None
        self.rnn = RNN(
            cell,
            features,
            hidden_size,
            num_layers=num_layers,
            bidirectional=True,
            dropout=dropout,
            backend=backend,
            **cell_options,
        )
        self.head = nn.Linear(self.rnn.output_size, num_tags)

    # --- configuration (config() and from_config(): KeepsArguments) -----------------------------

    def forward(
        self,
        words: Tensor,
        lengths: Tensor | None = None,
        chars: Tensor | None = None,
        char_lengths: Tensor | None = None,
    ) -> Tensor:
        if words.dim() != 2:
            raise ValueError(f"words must be (B, T), got shape {tuple(words.shape)}")
        x = self.embedding(words)
        if self.chars is not None:
            if chars is None or char_lengths is None:
                raise ValueError("this tagger uses character features: pass chars and char_lengths")
            x = torch.cat([x, self.chars(chars, char_lengths)], dim=-1)
        x = dropout(x, self.dropout, self.training)
        outputs, _ = self.rnn(x, lengths=lengths)
        return self.head(dropout(outputs, self.dropout, self.training))
