"""Stream batching for language models trained with truncated backpropagation through time.

A corpus of N token ids is cut into B equal contiguous streams, laid side by side as a ``(B, L)``
tensor with ``L = N // B`` (the last ``N mod B`` tokens are dropped). Batch ``k`` is the window of
columns ``[k * bptt, k * bptt + bptt)`` as inputs and the same window shifted one step right as
targets, so the recurrent state left by batch ``k`` is the right starting state for batch ``k + 1``
in every stream. With B = 2, bptt = 2 and ids 0..9::

    streams  [[0, 1, 2, 3, 4],       batch 0: inputs [[0, 1], [5, 6]]  targets [[1, 2], [6, 7]]
              [5, 6, 7, 8, 9]]       batch 1: inputs [[2, 3], [7, 8]]  targets [[3, 4], [8, 9]]

The last batch is shorter when ``L - 1`` is not a multiple of ``bptt`` (or dropped with
``drop_last``). Nothing here is random: the layout depends only on the ids, B and bptt.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from rnnkit.errors import UserError


def tokens_needed(batch_size: int, bptt: int) -> int:
    """Fewest tokens that give one full batch: each stream needs ``bptt`` inputs plus one target."""
    return batch_size * (bptt + 1)


def check_stream_size(
    num_tokens: int, batch_size: int, bptt: int, name: str = "the corpus"
) -> None:
    """Raise ``UserError`` when ``num_tokens`` is too few for one batch, saying what would fit."""
    if batch_size < 1 or bptt < 1:
        raise ValueError(f"batch_size and bptt must be >= 1, got {batch_size} and {bptt}")
    needed = tokens_needed(batch_size, bptt)
    if num_tokens >= needed:
        return
    if num_tokens // (bptt + 1) >= 1:
        fix = f"use --batch-size {num_tokens // (bptt + 1)} or less, or more text"
    elif num_tokens >= 2:
        fix = f"use --batch-size 1 --bptt {num_tokens - 1} or less, or more text"
    else:
        fix = "give a file with more text"
    raise UserError(
        f"{name} has {num_tokens} tokens, too few for one batch of {batch_size} streams x {bptt} "
        f"steps (needs {needed}); {fix}."
    )


class StreamBatches:
    """Fixed batches of ``(inputs (B, T), targets (B, T))`` over B parallel streams of a corpus.

    ``T = bptt`` except possibly in the last batch. Raises ``UserError`` (naming ``name``) when the
    corpus is too small for one full batch.
    """

    def __init__(
        self,
        ids: Tensor | Sequence[int],
        batch_size: int,
        bptt: int,
        *,
        drop_last: bool = False,
        name: str = "the corpus",
    ) -> None:
        ids = torch.as_tensor(ids, dtype=torch.long)
        if ids.dim() != 1:
            raise ValueError(f"ids must be a 1-d tensor of token ids, got shape {tuple(ids.shape)}")
        check_stream_size(ids.numel(), batch_size, bptt, name)
        self.batch_size, self.bptt, self.drop_last = batch_size, bptt, drop_last
        length = ids.numel() // batch_size
        self.streams = ids[: batch_size * length].view(batch_size, length)  # (B, L)

    @property
    def stream_length(self) -> int:
        """L, the number of tokens in each stream."""
        return self.streams.shape[1]

    @property
    def num_batches(self) -> int:
        """Batches per pass: ``ceil((L - 1) / bptt)``, or the floor with ``drop_last``."""
        steps = self.stream_length - 1
        return steps // self.bptt if self.drop_last else -(-steps // self.bptt)

    @property
    def num_targets(self) -> int:
        """Tokens predicted in one pass (what a per-token loss averages over)."""
        full = self.num_batches * self.bptt
        return self.batch_size * min(full, self.stream_length - 1)

    def __len__(self) -> int:
        return self.num_batches

    def batch(self, index: int) -> tuple[Tensor, Tensor]:
        """Batch ``index``: ``inputs (B, T)`` and next-token ``targets (B, T)``, both int64."""
        if not 0 <= index < self.num_batches:
            raise IndexError(f"batch index must be in 0..{self.num_batches - 1}, got {index}")
        start = index * self.bptt
        steps = min(self.bptt, self.stream_length - 1 - start)
        inputs = self.streams[:, start : start + steps]
        targets = self.streams[:, start + 1 : start + 1 + steps]
        return inputs, targets

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        return self.iter_from(0)

    def iter_from(self, start: int) -> Iterator[tuple[Tensor, Tensor]]:
        """Batches ``start, start + 1, ...`` (to resume a pass part-way through)."""
        for index in range(start, self.num_batches):
            yield self.batch(index)
