"""StreamBatches against a layout written out by hand, and the too-small corpus message."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data import StreamBatches, check_stream_size
from rnnkit.errors import UserError


def test_layout_matches_hand_built_batches() -> None:
    # 14 ids, 3 streams: L = 4, the last 2 ids are dropped.
    batches = StreamBatches(torch.arange(14), batch_size=3, bptt=2)
    assert batches.streams.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert batches.num_batches == len(batches) == 2
    expected = [
        ([[0, 1], [4, 5], [8, 9]], [[1, 2], [5, 6], [9, 10]]),
        ([[2], [6], [10]], [[3], [7], [11]]),  # the short last batch
    ]
    got = [(x.tolist(), y.tolist()) for x, y in batches]
    assert got == expected
    assert batches.num_targets == 9


def test_drop_last_keeps_only_full_batches() -> None:
    batches = StreamBatches(list(range(14)), batch_size=3, bptt=2, drop_last=True)
    assert batches.num_batches == 1
    assert [x.shape for x, _ in batches] == [torch.Size([3, 2])]
    assert batches.num_targets == 6


def test_every_target_is_the_next_token_and_each_is_predicted_once() -> None:
    ids = torch.randperm(1000)
    batches = StreamBatches(ids, batch_size=7, bptt=13)
    successor = {int(a): int(b) for a, b in zip(ids[:-1], ids[1:], strict=True)}
    seen = []
    for inputs, targets in batches:
        assert inputs.dtype == targets.dtype == torch.long
        for a, b in zip(inputs.flatten().tolist(), targets.flatten().tolist(), strict=True):
            assert successor[a] == b
        seen += targets.flatten().tolist()
    assert len(seen) == len(set(seen)) == batches.num_targets == 7 * (1000 // 7 - 1)


def test_consecutive_batches_continue_each_stream() -> None:
    batches = StreamBatches(torch.arange(50), batch_size=2, bptt=4)
    rebuilt = torch.cat([x for x, _ in batches] + [batches.batch(len(batches) - 1)[1][:, -1:]], 1)
    assert torch.equal(rebuilt, batches.streams)


def test_iter_from_resumes_part_way() -> None:
    batches = StreamBatches(torch.arange(100), batch_size=3, bptt=5)
    all_batches = list(batches)
    resumed = list(batches.iter_from(2))
    assert len(resumed) == len(all_batches) - 2
    for (x1, y1), (x2, y2) in zip(resumed, all_batches[2:], strict=True):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)


def test_too_small_corpus_says_how_small_and_what_fits() -> None:
    with pytest.raises(UserError) as caught:
        StreamBatches(torch.arange(500), batch_size=64, bptt=128, name="tiny.txt")
    message = str(caught.value)
    assert "tiny.txt has 500 tokens" in message
    assert "needs 8256" in message  # 64 streams x (128 inputs + 1 target)
    assert "--batch-size 3" in message  # 3 x 129 = 387 <= 500 < 4 x 129
    StreamBatches(torch.arange(500), batch_size=3, bptt=128)  # the suggestion fits


def test_too_small_for_any_batch_of_that_length_suggests_shorter_bptt() -> None:
    with pytest.raises(UserError, match="--batch-size 1 --bptt 9"):
        check_stream_size(10, batch_size=4, bptt=32)
    StreamBatches(torch.arange(10), batch_size=1, bptt=9)


def test_exactly_enough_tokens_is_one_batch() -> None:
    batches = StreamBatches(torch.arange(2 * 6), batch_size=2, bptt=5)
    assert batches.num_batches == 1


def test_rejects_a_matrix_of_ids() -> None:
    with pytest.raises(ValueError, match="1-d"):
        StreamBatches(torch.zeros(4, 4, dtype=torch.long), batch_size=1, bptt=2)
