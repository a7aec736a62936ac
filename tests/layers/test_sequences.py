"""Padding never leaks, each sequence's final state is its own, and streaming equals one pass.

Run for every cell name and every backend that can run it; the oracle is the same layer applied
to each sequence alone (no padding) or to the whole stream at once.
"""

from __future__ import annotations

import pytest
import torch

import rnnkit
from rnnkit import cells as cell_module
from rnnkit.layers.rnn import CELL_NAMES
from rnnkit.layers.sequences import reverse_padded

I, H, B, T = 3, 4, 4, 7


def supported_direction_backends(cell) -> list[str]:
    """The backends that can run ``cell`` for one direction: the step loops, and the scan or
    hand-written kernel where the cell has one."""
    names = ["loop", "compiled"]
    if callable(getattr(cell, "scan", None)):
        names.append("scan")
    if callable(getattr(cell, "fused_sequence", None)):
        names.append("fused")
    return names


def _available_cells():
    return [name for name, (cls, _) in CELL_NAMES.items() if hasattr(cell_module, cls)]


def _configs():
    for name in _available_cells():
        probe = rnnkit.RNN(name, I, H)
        backends = ["auto", *supported_direction_backends(probe.cells[0])]
        for backend in backends:
            if backend == "compiled":
                continue  # compiling takes minutes on CPU; it runs the same step loop
            yield name, backend


CONFIGS = list(_configs())


def _parts(state):
    return state if isinstance(state, tuple) else (state,)


def _make(name, backend, **kw):
    return rnnkit.RNN(name, I, H, backend=backend, **kw).double()


@pytest.mark.parametrize("name, backend", CONFIGS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_never_leaks(name, backend, bidirectional):
    rnn = _make(name, backend, num_layers=2, bidirectional=bidirectional)
    lengths = torch.tensor([T, 3, 5, 1])
    x = torch.randn(B, T, I, dtype=torch.float64)
    noisy = x.clone()
    for b, n in enumerate(lengths):
        noisy[b, n:] = torch.randn(T - n, I, dtype=torch.float64) * 100
    out, state = rnn(x, lengths=lengths)
    out_noisy, state_noisy = rnn(noisy, lengths=lengths)
    torch.testing.assert_close(out, out_noisy, rtol=0, atol=1e-12)
    for a, b in zip(_parts(state), _parts(state_noisy), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    for b, n in enumerate(lengths):
        assert out[b, n:].abs().max() == 0 if n < T else True
        alone_out, alone_state = rnn(x[b : b + 1, :n])
        torch.testing.assert_close(out[b : b + 1, :n], alone_out, rtol=0, atol=1e-10)
        for a, s in zip(_parts(state), _parts(alone_state), strict=True):
            torch.testing.assert_close(a[:, b : b + 1], s, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name, backend", CONFIGS)
def test_streaming_in_chunks_equals_one_pass(name, backend):
    rnn = _make(name, backend, num_layers=2)
    x = torch.randn(B, 12, I, dtype=torch.float64)
    whole, whole_state = rnn(x)
    pieces, state = [], None
    for chunk in x.split([5, 1, 4, 2], dim=1):
        out, state = rnn(chunk, state)
        pieces.append(out)
    torch.testing.assert_close(torch.cat(pieces, dim=1), whole, rtol=0, atol=1e-10)
    for a, b in zip(_parts(state), _parts(whole_state), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", _available_cells())
def test_all_backends_agree_on_outputs_and_gradients(name):
    base = _make(name, "loop", num_layers=2, bidirectional=True)
    x = torch.randn(B, T, I, dtype=torch.float64)
    lengths = torch.tensor([T, 2, 6, 4])
    reference_out, _ = base(x, lengths=lengths)
    reference_grads = torch.autograd.grad(reference_out.square().sum(), list(base.parameters()))
    for backend in ["auto", *supported_direction_backends(base.cells[0])]:
        if backend in ("loop", "compiled"):
            continue
        other = _make(name, backend, num_layers=2, bidirectional=True)
        other.load_state_dict(base.state_dict())
        out, _ = other(x, lengths=lengths)
        grads = torch.autograd.grad(out.square().sum(), list(other.parameters()))
        torch.testing.assert_close(out, reference_out, rtol=0, atol=1e-10)
        for a, b in zip(grads, reference_grads, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-9)


def test_reverse_direction_starts_at_each_sequences_last_step():
    """A bidirectional layer's backward half equals a forward layer on the reversed sequence."""
    rnn = _make("gru", "loop", bidirectional=True)
    forward_only = _make("gru", "loop")
    forward_only.cells[0].load_state_dict(rnn.cells[1].state_dict())
    x = torch.randn(1, 5, I, dtype=torch.float64)
    out, _ = rnn(
        torch.cat([x, torch.zeros(1, 2, I, dtype=torch.float64)], 1), lengths=torch.tensor([5])
    )
    expected, _ = forward_only(x.flip(1))
    torch.testing.assert_close(out[:, :5, H:], expected.flip(1), rtol=0, atol=1e-12)


def test_reverse_padded_flips_within_lengths_only():
    x = torch.arange(8.0).view(2, 4, 1)
    out = reverse_padded(x, torch.tensor([3, 4]))
    assert out[:, :, 0].tolist() == [[2.0, 1.0, 0.0, 3.0], [7.0, 6.0, 5.0, 4.0]]
    torch.testing.assert_close(reverse_padded(out, torch.tensor([3, 4])), x)


def test_batch_first_false_is_the_transpose():
    a = _make("lstm", "loop", num_layers=2)
    b = _make("lstm", "loop", num_layers=2, batch_first=False)
    b.load_state_dict(a.state_dict())
    x = torch.randn(B, T, I, dtype=torch.float64)
    torch.testing.assert_close(b(x.transpose(0, 1))[0].transpose(0, 1), a(x)[0])


def test_recurrent_runs_one_cell_and_masks():
    cell = rnnkit.LSTMCell(I, H).double()
    layer = rnnkit.Recurrent(cell)
    x = torch.randn(2, T, I, dtype=torch.float64)
    out, (h, c) = layer(x, lengths=torch.tensor([T, 3]))
    state = cell.initial_state(1, dtype=torch.float64)
    for t in range(3):  # an explicit step loop over the second sequence alone
        h_t, state = cell(x[1:2, t], state)
        torch.testing.assert_close(out[1:2, t], h_t)
    torch.testing.assert_close(h[1:2], state[0])
    torch.testing.assert_close(c[1:2], state[1])
    assert out[1, 3:].abs().max() == 0
