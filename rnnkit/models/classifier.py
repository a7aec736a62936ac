"""Many-to-one: a sequence classifier (text or feature vectors -> one label).

Tokens ``(B, T)`` go through an embedding, or feature vectors ``(B, T, F)`` go in directly; a
(by default bidirectional) ``rnnkit.RNN`` reads them; a pooling step turns the per-token outputs
``(B, T, D*H)`` into one vector per sequence; dropout and a linear layer give the class logits.

Pooling, always over each sequence's real steps only (padding changes nothing):

- ``last``: the forward direction at the last real step, and for a bidirectional RNN the backward
  direction at the first step (the two ends where each direction has read the whole sequence);
- ``mean`` / ``max``: the mean or element-wise maximum over the steps;
- ``attention``: a learned score per step, softmax-normalised over the real steps, and the
  weighted sum of the outputs (Bahdanau-style additive scoring, as in Yang et al. 2016); the
  weights ``(B, T)`` are returned for explanation;
- ``max_attention``: the maximum and the attention-weighted sum side by side ``(B, 2*D*H)``.

Token input may carry subword features: with ``ngram_buckets`` the input is ``(B, T, 1 + G)``,
each token's word id followed by its ``G`` hashed character n-gram ids (``rnnkit.data.char_ngrams``,
0-padded), and a token's vector is its word embedding plus the mean of its n-grams' embeddings, so
a word unseen in training still has a vector of its own. ``word_dropout`` drops whole rows of the
word embedding while training (the same word everywhere in a batch; its n-grams stay), so the model
learns not to lean on the embeddings of words it has seen a few times.

A hybrid (``word_ngram_buckets``, Wang & Manning 2012's point that n-gram features are strong on
short sentences) adds a linear model of hashed token uni- and bigram counts to the logits: the
input's last two columns hold each token's unigram and bigram (with the token before) bucket ids
(0 = padding), and ``W`` a ``(buckets, K)`` matrix, so the added logits are
``sum_t W[uni_t] + W[bi_t]``, the counts vector times ``W``; both parts train on the one loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.layers import RNN
from rnnkit.layers.dropout import dropout, embedding_dropout
from rnnkit.layers.ngram_embedding import NgramEmbedding
from rnnkit.layers.sequences import lengths_to_mask
from rnnkit.models.config import (
    KeepsArguments,
    check_choice,
    check_fraction,
    constructor_arguments,
)

POOLINGS = ("last", "mean", "max", "attention", "max_attention")


class AttentionPooling(nn.Module):
    """Weighted sum over steps with weights ``softmax(v . tanh(W h_t))`` over the real steps.

    ``forward(outputs (B, T, F), mask (B, T)) -> (pooled (B, F), weights (B, T))``; weights are
    zero at padded steps and sum to 1 over each sequence's real steps.
    """

    def __init__(self, features: int, attention_size: int | None = None) -> None:
        super().__init__()
        size = attention_size or features
        self.project = nn.Linear(features, size)
        self.score = nn.Linear(size, 1, bias=False)

    def forward(self, outputs: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        scores = self.score(torch.tanh(self.project(outputs))).squeeze(-1)  # (B, T)
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores.float(), dim=1).to(outputs.dtype)
        return torch.einsum("bt,btf->bf", weights, outputs), weights


@dataclass(frozen=True)
class Mix:
    """Mixup of a batch with itself: row ``b`` becomes ``weight * v[b] + (1 - weight) *
    v[partner[b]]``; ``partner (B,)`` is a permutation of the rows."""

    partner: Tensor
    weight: float

    def apply(self, vectors: Tensor) -> Tensor:
        """``vectors (B, ...)`` -> the mixed rows ``(B, ...)``."""
        partner = self.partner.to(vectors.device)
        return self.weight * vectors + (1.0 - self.weight) * vectors[partner]


def pool_outputs(
    outputs: Tensor,
    lengths: Tensor,
    method: str,
    num_directions: int = 1,
    attention: AttentionPooling | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Pool ``outputs (B, T, D*H)`` over each sequence's ``lengths (B,)`` steps.

    Returns ``(pooled (B, D*H), attention weights (B, T) or None)``; ``max_attention`` pools
    ``(B, 2*D*H)``: the maximum, then the attention-weighted sum.
    """
    batch, steps, features = outputs.shape
    mask = lengths_to_mask(lengths, steps, device=outputs.device)  # (B, T)
    if method in ("attention", "max_attention"):
        if attention is None:
            raise ValueError(f"{method} pooling needs an AttentionPooling module, got None")
        attended, weights = attention(outputs, mask)
        if method == "attention":
            return attended, weights
        maximum, _ = pool_outputs(outputs, lengths, "max")
        return torch.cat([maximum, attended], dim=-1), weights
    if method == "mean":
        summed = (outputs * mask.unsqueeze(-1).to(outputs.dtype)).sum(dim=1)
        return summed / lengths.to(outputs.device, outputs.dtype).unsqueeze(1), None
    if method == "max":
        return outputs.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=1), None
    if method == "last":
        rows = torch.arange(batch, device=outputs.device)
        last = outputs[rows, lengths.to(outputs.device) - 1]  # (B, D*H)
        if num_directions == 1:
            return last, None
        hidden = features // 2
        return torch.cat([last[:, :hidden], outputs[:, 0, hidden:]], dim=-1), None
    raise ValueError(f"pooling must be one of {POOLINGS}, got {method!r}")


class SequenceClassifier(KeepsArguments):
    """Embedding (or feature input) -> RNN -> pooling -> dropout -> linear head.

    Args:
        num_classes: ``K``, the number of labels.
        vocab_size: for token input ``(B, T)``: the vocabulary size ``V`` (id 0 is padding).
        input_size: for feature input ``(B, T, F)``: ``F``. Give exactly one of the two.
        embedding_size: ``E``, width of a token's embedding (token input only).
        hidden_size: ``H``, the cells' hidden size.
        num_layers: stacked recurrent layers.
        cell: any cell name ``rnnkit.RNN`` accepts.
        bidirectional: read each sequence in both directions (``D = 2``).
        pooling: ``"last"``, ``"mean"``, ``"max"``, ``"attention"`` or ``"max_attention"``.
        dropout: on the embeddings, between RNN layers, and before the head.
        ngram_buckets: with token input, the hash buckets of the character n-gram ids that
            follow each word id (input ``(B, T, 1 + G)``); 0 for plain ids ``(B, T)``.
        word_dropout: probability of dropping a word's embedding row while training.
        word_ngram_buckets: with token input, the hash buckets of a linear model of token uni-
            and bigram counts whose logits are added (input's last 2 columns); 0 for none.
        backend: the ``rnnkit.RNN`` backend.
        **cell_options: passed to each cell.

    ``forward(x, lengths=None, mix=None, shift=None) -> logits (B, K)``; ``forward_with_weights``
    also returns the attention weights ``(B, T)`` (None unless the pooling uses attention). While
    training, ``mix`` (a ``Mix``) mixes pairs of pooled vectors (mixup) and ``shift (B, T, I)``
    is added to the embedded input (adversarial training).
    """

    def __init__(
        self,
        num_classes: int,
        vocab_size: int | None = None,
        input_size: int | None = None,
        embedding_size: int = 128,
        hidden_size: int = 128,
        num_layers: int = 1,
        cell: str = "lstm",
        bidirectional: bool = True,
        pooling: str = "attention",
        dropout: float = 0.0,
        ngram_buckets: int = 0,
        word_dropout: float = 0.0,
        word_ngram_buckets: int = 0,
        backend: str = "auto",
        **cell_options: Any,
    ) -> None:
        super().__init__()
        if (vocab_size is None) == (input_size is None):
            raise ValueError(
                f"give exactly one of vocab_size (token input) and input_size (feature input), "
                f"got vocab_size={vocab_size} and input_size={input_size}"
            )
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        check_choice("pooling", pooling, POOLINGS)
        check_fraction("dropout", dropout)
        check_fraction("word_dropout", word_dropout)
        if (ngram_buckets or word_ngram_buckets) and vocab_size is None:
            raise ValueError("n-gram buckets apply to token input; give vocab_size")
        self._config = constructor_arguments(SequenceClassifier.__init__, locals())
        self.pooling, self.dropout, self.word_dropout = pooling, dropout, word_dropout
        self.ngrams = NgramEmbedding(ngram_buckets, embedding_size) if ngram_buckets else None
        if vocab_size is not None:
            self.embedding: nn.Embedding | None = nn.Embedding(vocab_size, embedding_size)
            nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
            rnn_input = embedding_size
        else:
            self.embedding = None
            rnn_input = input_size
        self.rnn = RNN(
            cell,
            rnn_input,
            hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=dropout,
            backend=backend,
            **cell_options,
        )
        features = self.rnn.output_size
        attends = pooling in ("attention", "max_attention")
        self.attention = AttentionPooling(features) if attends else None
        pooled = 2 * features if pooling == "max_attention" else features
        self.head = nn.Linear(pooled, num_classes)
        self.word_ngrams: nn.Embedding | None = None
        if word_ngram_buckets:
            # the linear model's weights; zero at the start, so training begins from the RNN alone
            self.word_ngrams = nn.Embedding(word_ngram_buckets, num_classes, padding_idx=0)
            nn.init.zeros_(self.word_ngrams.weight)

    # --- configuration (config() and from_config(): KeepsArguments) -----------------------------

    @property
    def num_classes(self) -> int:
        return self.head.out_features

    # --- forward --------------------------------------------------------------------------------

    def encode(
        self, x: Tensor, lengths: Tensor | None = None, shift: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Per-step RNN outputs ``(B, T, D*H)`` and the lengths used ``(B,)``; ``shift (B, T,
        I)`` is added to the embedded input (an adversarial perturbation)."""
        x = self.embed(x)
        if shift is not None:
            x = x + shift.to(x.dtype)
        return self.encode_embedded(x, lengths)

    def embed(self, x: Tensor) -> Tensor:
        """Tokens ``(B, T)`` (with n-grams ``(B, T, 1 + G)``, and with word n-gram features two
        more columns) -> embeddings ``(B, T, E)``; features ``(B, T, F)`` pass through."""
        if self.embedding is not None:
            dims, shape = (3, "(B, T, 1 + G)") if self._columns else (2, "(B, T)")
            if x.dim() != dims or x.is_floating_point():
                raise ValueError(f"token input must be integer ids {shape}, got {tuple(x.shape)}")
            if not self._columns:
                return self.embed_words(x)
            end = x.shape[-1] - (2 if self.word_ngrams is not None else 0)
            return self.embed_words(x[..., 0], x[..., 1:end] if self.ngrams is not None else None)
        if x.dim() != 3:
            raise ValueError(f"feature input must be (B, T, F), got shape {tuple(x.shape)}")
        return x

    @property
    def _columns(self) -> bool:
        """Whether token input carries columns after the word id (n-grams of either kind)."""
        return self.ngrams is not None or self.word_ngrams is not None

    def embed_words(self, words: Tensor, char_ngrams: Tensor | None = None) -> Tensor:
        """Word ids ``(B, T)`` and their character n-gram ids ``(B, T, G)`` (when the model has
        n-gram features) -> embeddings ``(B, T, E)``, with word dropout while training."""
        if self.training and self.word_dropout > 0:
            vectors = embedding_dropout(self.embedding, words, self.word_dropout, True)
        else:
            vectors = self.embedding(words)
        if self.ngrams is not None:
            vectors = vectors + self.ngrams(char_ngrams)
        return vectors

    def word_ngram_logits(self, x: Tensor) -> Tensor:
        """The linear model's logits ``(B, K)``: its weights summed over the uni- and bigram ids
        in the last two columns of ``x (B, T, C)`` (padding, id 0, adds nothing)."""
        assert self.word_ngrams is not None
        return self.word_ngrams(x[..., -2:]).sum(dim=(1, 2))

    def encode_embedded(self, x: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor]:
        """RNN outputs for already embedded input ``(B, T, E)`` (for gradient saliency)."""
        batch, steps = x.shape[0], x.shape[1]
        if lengths is None:
            lengths = torch.full((batch,), steps, dtype=torch.long)
        x = dropout(x, self.dropout, self.training)
        outputs, _ = self.rnn(x, lengths=lengths)
        return outputs, lengths

    def classify(
        self, outputs: Tensor, lengths: Tensor, mix: Mix | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """Pool the RNN outputs (mixed with ``mix``) and apply the head: ``(logits (B, K),
        weights (B, T) or None)``."""
        pooled, weights = pool_outputs(
            outputs, lengths, self.pooling, self.rnn.num_directions, self.attention
        )
        if mix is not None:
            pooled = mix.apply(pooled)
        return self.head(dropout(pooled, self.dropout, self.training)), weights

    def forward_with_weights(
        self,
        x: Tensor,
        lengths: Tensor | None = None,
        mix: Mix | None = None,
        shift: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """``x (B, T)`` ids or ``(B, T, F)`` features -> (logits ``(B, K)``, weights or None).

        ``mix``: the pooled vectors of pairs of sequences are mixed (mixup on the sentence
        vectors); the hybrid's linear logits are mixed alike, being linear in its features.
        ``shift (B, T, I)``: added to the embedded input (``encode``)."""
        outputs, lengths = self.encode(x, lengths, shift)
        logits, weights = self.classify(outputs, lengths, mix)
        if self.word_ngrams is not None:
            linear = self.word_ngram_logits(x).to(logits.dtype)
            logits = logits + (linear if mix is None else mix.apply(linear))
        return logits, weights

    def forward(
        self,
        x: Tensor,
        lengths: Tensor | None = None,
        mix: Mix | None = None,
        shift: Tensor | None = None,
    ) -> Tensor:
        return self.forward_with_weights(x, lengths, mix, shift)[0]

    # --- transfer -------------------------------------------------------------------------------

    def pretrained_groups(self) -> list[list[nn.Parameter]]:
        """Parameter groups from the bottom up for gradual unfreezing: embedding (with the
        n-gram embedding), then each RNN layer (both directions together). The pooling and head
        are not in any group."""
        groups: list[list[nn.Parameter]] = []
        if self.embedding is not None:
            groups.append(list(self.embedding.parameters()))
            if self.ngrams is not None:
                groups[-1].extend(self.ngrams.parameters())
        d = self.rnn.num_directions
        for layer in range(self.rnn.num_layers):
            cells = self.rnn.cells[layer * d : (layer + 1) * d]
            groups.append([p for cell in cells for p in cell.parameters()])
        return groups

    def freeze_bottom(self, frozen_groups: int) -> None:
        """Freeze the lowest ``frozen_groups`` of ``pretrained_groups()``; unfreeze the rest."""
        for index, group in enumerate(self.pretrained_groups()):
            for parameter in group:
                parameter.requires_grad_(index >= frozen_groups)
