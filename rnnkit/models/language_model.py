"""A recurrent language model: embedding -> ``rnnkit.RNN`` -> output layer, and fast generation.

Training reads whole chunks ``(B, T)`` through ``forward``. Generation at batch 1 would spend most
of its time in per-call overhead if it called the full layer once per token, so ``generate`` runs
the prime through ``forward`` and then steps the model one token at a time with a stepper
(``rnnkit.models.stepping``): for the classic cells a C kernel on preallocated buffers, with
float32, bfloat16 or int8 weights (``weights=``); torch's cell functions otherwise.

Regularisers (AWD-LSTM, Merity et al. 2018): ``embedding_dropout`` drops whole words from the
embedding matrix; ``dropout`` applies to the embeddings, between RNN layers and to the RNN output,
with one mask per sequence for every step when ``locked_dropout`` is set (variational dropout);
``weight_drop`` is DropConnect on the recurrent matrices.

Weight tying (Press & Wolf 2017; Inan et al. 2017) shares the embedding matrix with the output
layer, which then needs ``E``-wide features: when the RNN's output width differs from
``embedding_size`` a linear projection ``(H_out -> E)`` is inserted before the output layer. For an
LSTM, ``proj_size=embedding_size`` (a cell option) gives the same widths inside the cell instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.cells.base import State
from rnnkit.decoding.sampling import sample_next
from rnnkit.layers import RNN, embedding_dropout, locked_dropout
from rnnkit.layers.dropout import dropout
from rnnkit.models.config import KeepsArguments, check_fraction, constructor_arguments
from rnnkit.models.stepping import Drawer, check_weights, make_stepper


class LanguageModel(KeepsArguments):
    """Next-token model over a vocabulary of ``V`` ids.

    Args:
        vocab_size: ``V``.
        embedding_size: ``E``, the width of a token's embedding.
        hidden_size: ``H``, the cells' hidden size.
        num_layers: stacked recurrent layers.
        cell: any cell name ``rnnkit.RNN`` accepts (``"lstm"``, ``"gru"``, ``"rnn"``, ...).
        dropout: dropout on embeddings, between layers and on the RNN output.
        embedding_dropout: probability of dropping a whole vocabulary row of the embedding.
        locked_dropout: use one dropout mask per sequence for all steps (variational dropout).
        weight_drop: DropConnect probability on every recurrent weight matrix.
        tie_weights: share the embedding matrix with the output layer.
        backend: the ``rnnkit.RNN`` backend (``"auto"`` picks the fastest exact one).
        **cell_options: passed to each cell (``proj_size``, ``init``, ``reset_after``, ...).
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_size: int = 256,
        hidden_size: int = 512,
        num_layers: int = 2,
        cell: str = "lstm",
        dropout: float = 0.0,
        embedding_dropout: float = 0.0,
        locked_dropout: bool = False,
        weight_drop: float = 0.0,
        tie_weights: bool = False,
        backend: str = "auto",
        **cell_options: Any,
    ) -> None:
        super().__init__()
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
        check_fraction("dropout", dropout)
        check_fraction("embedding_dropout", embedding_dropout)
        if not isinstance(cell, str):
            raise TypeError(f"cell must be a cell name (a str), got {type(cell).__name__}")
        self._config = constructor_arguments(LanguageModel.__init__, locals())
        self.dropout, self.embedding_dropout = dropout, embedding_dropout
        self.locked_dropout = locked_dropout

        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.rnn = RNN(
            cell,
            embedding_size,
            hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            batch_first=True,
            backend=backend,
            variational=locked_dropout,
            weight_drop=weight_drop,
            **cell_options,
        )
        features = self.rnn.output_size
        if tie_weights and features != embedding_size:
            self.projection: nn.Linear | None = nn.Linear(features, embedding_size)
            features = embedding_size
        else:
            self.projection = None
        self.decoder = nn.Linear(features, vocab_size)
        if tie_weights:
            self.decoder.weight = self.embedding.weight
        self._reset_embedding_and_decoder()

    def _reset_embedding_and_decoder(self) -> None:
        if self.decoder.weight is self.embedding.weight:
            # Tied: small uniform embeddings (as in AWD-LSTM); N(0, 1) makes logits start huge.
            nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        else:
            # Untied: unit-variance inputs. U(-0.1, 0.1) starved the first layer: a 2x512 char LSTM
            # reached a training loss of 2.64 after 60 steps against 2.05 with N(0, 1).
            nn.init.normal_(self.embedding.weight)
        nn.init.zeros_(self.decoder.bias)

    # --- configuration (config() and from_config(): KeepsArguments) -----------------------------

    @property
    def vocab_size(self) -> int:
        return self.embedding.num_embeddings

    # --- forward --------------------------------------------------------------------------------

    def _drop(self, x: Tensor) -> Tensor:
        if self.locked_dropout:
            return locked_dropout(x, self.dropout, self.training)
        return dropout(x, self.dropout, self.training)

    def features(self, tokens: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """``tokens (B, T)`` -> (what the output layer reads ``(B, T, E or H_out)``, state)."""
        if tokens.dim() != 2:
            raise ValueError(f"tokens must be (B, T), got shape {tuple(tokens.shape)}")
        x = embedding_dropout(self.embedding, tokens, self.embedding_dropout, self.training)
        output, state = self.rnn(self._drop(x), state)
        output = self._drop(output)
        if self.projection is not None:
            output = self.projection(output)
        return output, state

    def forward(self, tokens: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """``tokens (B, T)``, optional state -> ``(logits (B, T, V), state)``.

        The state is in torch's layout, ``(num_layers, B, H)`` (a pair ``(h, c)`` for an LSTM);
        pass it back in to continue a stream (detach it between chunks of truncated BPTT).
        """
        features, state = self.features(tokens, state)
        return self.decoder(features), state

    def initial_state(self, batch_size: int) -> State:
        """Zeros in the state's layout, on the model's device and dtype."""
        weight = self.embedding.weight
        return self.rnn.initial_state(batch_size, device=weight.device, dtype=weight.dtype)

    # --- generation -----------------------------------------------------------------------------

    def generate(
        self,
        prime_ids: Sequence[int],
        length: int,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        generator: torch.Generator | None = None,
        weights: str = "float32",
    ) -> Iterator[int]:
        """Yield ``length`` new token ids, one at a time, continuing ``prime_ids``.

        The prime (at least one id; a task without one can prime with a newline or bos) runs
        through ``forward`` in one call; each new id is drawn by ``sample_next`` (temperature 0
        is greedy; plain temperature sampling by ``stepping.Drawer``, the same draw in one kernel
        call) and fed back one step at a time through a stepper. With ``weights="bf16"`` or
        ``"int8"`` the weight matrices are rounded to that precision (``rnnkit.models.stepping``)
        and the prime too is stepped through them, so the whole generation is that of the
        rounded model. Dropout is off throughout. The model's train/eval mode is left as it was.
        """
        prime = [int(i) for i in prime_ids]
        if not prime:
            raise ValueError("prime_ids must hold at least one token id, got none")
        if not all(0 <= i < self.vocab_size for i in prime):
            raise ValueError(f"prime_ids must be in 0..{self.vocab_size - 1}, got {prime}")
        if length < 0:
            raise ValueError(f"length must be >= 0, got {length}")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        check_weights(weights)
        return self._generate(prime, length, temperature, top_k, top_p, generator, weights)

    def _generate(
        self,
        prime: list[int],
        length: int,
        temperature: float,
        top_k: int,
        top_p: float,
        generator: torch.Generator | None,
        weights: str,
    ) -> Iterator[int]:
        # Grad mode is set per block, never across a ``yield``: the caller's code between two
        # tokens must not run under inference mode.
        with torch.inference_mode(), _eval_mode(self):
            stepper = make_stepper(self, weights)
            if weights == "float32":
                tokens = torch.tensor([prime], device=self.embedding.weight.device)
                features, state = self.features(tokens)
                logits = self.decoder(features[:, -1])
                stepper.start(state)
            else:  # the prime too through the rounded weights: one model throughout
                stepper.start(self.initial_state(1))
                for token_id in prime:
                    logits = stepper.step(token_id)
        # None: sample_next draws
        drawer = Drawer.make(temperature, top_k, top_p, generator, self.embedding.weight.device)
        for produced in range(length):
            with torch.inference_mode():
                if drawer is not None:
                    token = drawer.draw(logits)
                else:
                    token = int(sample_next(logits, temperature, top_k, top_p, generator))
            yield token
            if produced + 1 < length:
                # eval mode again: the caller may have switched modes, and a cell's step reads
                # its weights through weight drop, which is only off in eval mode
                with torch.inference_mode(), _eval_mode(self):
                    logits = stepper.step(token)


@contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    """Put ``module`` in eval mode for the block, then restore its mode."""
    if not module.training:  # the common case while generating: nothing to switch
        yield
        return
    module.eval()
    try:
        yield
    finally:
        module.train()
