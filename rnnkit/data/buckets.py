"""Batches of variable-length sequences, grouped by length so that little of a batch is padding.

``bucket_batches`` shuffles the examples, cuts the shuffled order into pools of many batches, sorts
each pool by length and cuts it into batches, then shuffles the batches: every batch holds
sequences of similar length, yet the composition and order of batches change from epoch to epoch.
``pad_sequences`` stacks a batch into one padded tensor with its lengths.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

#: a pool holds this many batches' worth of examples before it is sorted by length
POOL_BATCHES = 50


def bucket_batches(
    lengths: Sequence[int],
    batch_size: int,
    generator: torch.Generator | None = None,
    *,
    shuffle: bool = True,
    pool_batches: int = POOL_BATCHES,
) -> list[list[int]]:
    """Indices of the examples, grouped into batches of similar length.

    Args:
        lengths: length of each example.
        batch_size: examples per batch (the last batch of a pool may be smaller).
        generator: the source of every random choice (the same generator state gives the same
            batches); None with ``shuffle`` uses torch's global generator.
        shuffle: draw a random order; without it the batches are the examples sorted by length
            (longest first), for deterministic evaluation.
        pool_batches: how many batches' worth of examples are sorted together.

    Every index appears in exactly one batch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if pool_batches < 1:
        raise ValueError(f"pool_batches must be >= 1, got {pool_batches}")
    count = len(lengths)
    if not shuffle:
        order = sorted(range(count), key=lambda i: -lengths[i])
        return [order[i : i + batch_size] for i in range(0, count, batch_size)]
    order = torch.randperm(count, generator=generator).tolist()
    pool_size = batch_size * pool_batches
    batches: list[list[int]] = []
    for start in range(0, count, pool_size):
        pool = sorted(order[start : start + pool_size], key=lambda i: lengths[i])
        batches.extend(pool[i : i + batch_size] for i in range(0, len(pool), batch_size))
    batch_order = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in batch_order]


def pad_sequences(sequences: Sequence[Tensor], padding_value: float = 0) -> tuple[Tensor, Tensor]:
    """Stack sequences ``(T_i, ...)`` into ``(B, T_max, ...)`` padded after each sequence's end.

    Returns the padded batch and ``lengths (B,)`` (int64). Every sequence needs at least one step.
    """
    if not sequences:
        raise ValueError("pad_sequences needs at least one sequence, got none")
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    if int(lengths.min()) < 1:
        raise ValueError("every sequence must have at least one step, got an empty one")
    first = sequences[0]
    padded = first.new_full((len(sequences), int(lengths.max()), *first.shape[1:]), padding_value)
    for row, sequence in enumerate(sequences):
        padded[row, : len(sequence)] = sequence
    return padded, lengths
