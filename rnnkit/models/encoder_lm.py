"""A sequence classifier's embedding and recurrent encoder read as a next-token language model.

ULMFiT (Howard & Ruder 2018) trains a classifier's encoder first as a language model, on the
training texts and any unlabelled text, then fine-tunes it on the labels. ``EncoderLanguageModel``
is that language model built from the classifier's own modules, so pretraining trains the
classifier in place: the embedding (with its character n-grams), the recurrent cells of one
direction, and an output layer of its own that the classifier never uses.

A unidirectional classifier reads left to right through all its layers. In a bidirectional one
the forward direction of the first layer reads left to right, and the backward direction of the
first layer, which reads each sentence from its end, is pretrained as a backward language model
on reversed text (a cell does not know which way it reads). The layers above the first see both
directions of the one below, so they cannot predict the next word and are not pretrained.

``forward(tokens (B, T), state=None) -> (logits (B, T, V), state)``, the signature of
``LanguageModel``, so the lm task's stream objective and loss read it unchanged.
"""

from __future__ import annotations

from torch import Tensor, nn

from rnnkit.cells.base import State
from rnnkit.layers import Recurrent
from rnnkit.layers.dropout import dropout
from rnnkit.models.classifier import SequenceClassifier

FORWARD, BACKWARD = 0, 1


class EncoderLanguageModel(nn.Module):
    """Next-token model over a token-input ``SequenceClassifier``'s vocabulary.

    Args:
        classifier: the classifier whose embedding and cells are trained (shared, not copied).
        direction: ``FORWARD`` (0) or ``BACKWARD`` (1, bidirectional classifiers only: feed it
            reversed text).
        ngram_table: ``(V, G)`` hashed character n-gram ids of each vocabulary entry (0-padded),
            for a classifier with n-gram features; None otherwise.
    """

    def __init__(
        self,
        classifier: SequenceClassifier,
        direction: int = FORWARD,
        ngram_table: Tensor | None = None,
    ) -> None:
        super().__init__()
        if classifier.embedding is None:
            raise ValueError("a language model needs a classifier of tokens (vocab_size)")
        if direction not in (FORWARD, BACKWARD):
            raise ValueError(f"direction must be 0 (forward) or 1 (backward), got {direction}")
        rnn = classifier.rnn
        if direction == BACKWARD and rnn.num_directions == 1:
            raise ValueError("a unidirectional classifier has no backward direction to pretrain")
        if (classifier.ngrams is None) != (ngram_table is None):
            raise ValueError("give ngram_table exactly when the classifier has n-gram features")
        self.classifier = classifier
        self.direction = direction
        # one layer's cell of a bidirectional RNN, or the whole unidirectional stack
        self.reader: nn.Module = (
            Recurrent(rnn.cells[direction], backend=rnn.backend) if rnn.num_directions == 2 else rnn
        )
        self.register_buffer("ngram_table", ngram_table, persistent=False)
        self.decoder = nn.Linear(
            rnn.cells[direction].output_size, classifier.embedding.num_embeddings
        )

    @property
    def vocab_size(self) -> int:
        return self.decoder.out_features

    def forward(self, tokens: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """``tokens (B, T)`` -> (next-token logits ``(B, T, V)``, the state after the last step)."""
        if tokens.dim() != 2:
            raise ValueError(f"tokens must be (B, T), got shape {tuple(tokens.shape)}")
        grams = self.ngram_table[tokens] if self.ngram_table is not None else None
        rate = self.classifier.dropout
        x = dropout(self.classifier.embed_words(tokens, grams), rate, self.training)
        output, state = self.reader(x, state)
        return self.decoder(dropout(output, rate, self.training)), state
