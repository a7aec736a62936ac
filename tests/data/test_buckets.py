"""Length-bucketed batching: every example once, little padding, reproducible order."""

from __future__ import annotations

import random

import torch
from torch.nn.utils.rnn import pad_sequence

from rnnkit.data.buckets import bucket_batches, pad_sequences


def _padding(batches, lengths):
    return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)


def test_each_example_once_and_far_less_padding_than_random_batches():
    rng = random.Random(0)
    lengths = [rng.randint(1, 100) for _ in range(1000)]
    batches = bucket_batches(lengths, 16, torch.Generator().manual_seed(1))
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert all(1 <= len(b) <= 16 for b in batches)
    order = list(range(1000))
    rng.shuffle(order)
    random_batches = [order[i : i + 16] for i in range(0, 1000, 16)]
    assert _padding(batches, lengths) < 0.2 * _padding(random_batches, lengths)


def test_same_generator_state_same_batches_and_other_seeds_differ():
    lengths = list(range(1, 200))
    first = bucket_batches(lengths, 8, torch.Generator().manual_seed(3))
    again = bucket_batches(lengths, 8, torch.Generator().manual_seed(3))
    other = bucket_batches(lengths, 8, torch.Generator().manual_seed(4))
    assert first == again
    assert first != other


def test_unshuffled_batches_are_sorted_longest_first():
    lengths = [3, 9, 1, 7]
    assert bucket_batches(lengths, 2, shuffle=False) == [[1, 3], [0, 2]]


def test_pad_sequences_matches_torch_pad_sequence():
    sequences = [torch.randn(n, 3) for n in (4, 1, 6)]
    padded, lengths = pad_sequences(sequences, padding_value=-1.0)
    assert torch.equal(padded, pad_sequence(sequences, batch_first=True, padding_value=-1.0))
    assert lengths.tolist() == [4, 1, 6]
