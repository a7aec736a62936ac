"""The CTC recogniser: frame stacking, output lengths, streaming against one pass, and its loss
against a brute-force sum over every alignment."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from rnnkit.models.speech import CTCRecognizer, stack_frames, stacked_lengths
from rnnkit.tasks.speech import Utterance, ctc_frames_needed, ctc_loss_sum, make_batch


def test_stacking_puts_consecutive_frames_side_by_side_and_pads_the_last_group():
    frames = torch.arange(2 * 5 * 3, dtype=torch.float32).reshape(2, 5, 3)
    stacked = stack_frames(frames, 2)
    assert stacked.shape == (2, 3, 6)
    for b in range(2):
        for step in range(3):
            expected = [frames[b, t] if t < 5 else torch.zeros(3) for t in (2 * step, 2 * step + 1)]
            assert torch.equal(stacked[b, step], torch.cat(expected))
    assert stacked_lengths(torch.tensor([5, 4, 1]), 2).tolist() == [3, 2, 1]
    assert stacked_lengths(torch.tensor([7]), 3).tolist() == [math.ceil(7 / 3)]


@pytest.mark.parametrize("cell", ["lstm", "gru", "ln_lstm"])
def test_a_padded_batch_gives_each_file_its_own_log_probabilities(cell):
    torch.manual_seed(0)
    model = CTCRecognizer(6, 5, hidden_size=8, num_layers=2, cell=cell, subsample=3).eval()
    long, short = torch.randn(1, 14, 6), torch.randn(1, 8, 6)
    batch = torch.cat([long, F.pad(short, (0, 0, 0, 6))])
    log_probs, lengths = model(batch, torch.tensor([14, 8]))
    assert lengths.tolist() == [5, 3]
    alone, _ = model(short, torch.tensor([8]))
    torch.testing.assert_close(log_probs[1, :3], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(2, 5), atol=1e-5, rtol=0)


@pytest.mark.parametrize("subsample", [1, 2, 3])
def test_streaming_in_any_chunks_equals_one_pass(subsample):
    torch.manual_seed(1)
    model = CTCRecognizer(
        4, 6, hidden_size=10, num_layers=2, bidirectional=False, subsample=subsample
    ).eval()
    frames = torch.randn(1, 23, 4)
    whole, _ = model(frames)
    generator = torch.Generator().manual_seed(2)
    for _ in range(3):
        state, pieces, start = model.start_stream(), [], 0
        while start < frames.shape[1]:
            size = int(torch.randint(0, 6, (1,), generator=generator))
            out, state = model.stream_step(frames[:, start : start + size], state)
            pieces.append(out)
            start += size
        pieces.append(model.finish_stream(state))
        torch.testing.assert_close(torch.cat(pieces, dim=1), whole, atol=1e-5, rtol=1e-5)


def test_a_bidirectional_model_refuses_to_stream():
    model = CTCRecognizer(4, 6, hidden_size=4, num_layers=1, bidirectional=True)
    with pytest.raises(ValueError, match="stream"):
        model.start_stream()


def _collapse(path, blank=0):
    out, previous = [], None
    for label in path:
        if label != previous and label != blank:
            out.append(label)
        previous = label
    return out


def test_the_loss_is_minus_the_log_of_the_summed_probability_of_every_alignment():
    torch.manual_seed(3)
    model = CTCRecognizer(3, 3, hidden_size=5, num_layers=1, subsample=1).eval()
    frames = torch.randn(4, 3)
    utterance = Utterance(path=None, frames=frames, text="", labels=torch.tensor([1, 1]), seconds=0)
    loss, log_probs = ctc_loss_sum(model, make_batch([utterance]))
    probabilities = log_probs[0].detach().exp().double()
    total = 0.0
    for path in itertools.product(range(3), repeat=4):
        if _collapse(path) == [1, 1]:
            total += math.prod(float(probabilities[t, label]) for t, label in enumerate(path))
    assert float(loss.detach()) == pytest.approx(-math.log(total), rel=1e-5)


@pytest.mark.parametrize("labels", [[1], [1, 2], [1, 1], [2, 2, 2], [1, 2, 1, 1], []])
def test_the_frames_ctc_needs_are_the_shortest_alignment(labels):
    shortest = next(
        t
        for t in range(0, 8)
        if any(_collapse(p) == labels for p in itertools.product(range(3), repeat=t))
    )
    assert ctc_frames_needed(labels) == shortest
