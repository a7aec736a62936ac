"""``rnnkit.RNN`` against ``torch.nn.RNN/LSTM/GRU`` with weights copied both ways.

Outputs, final states and gradients of the input and of every weight, for 1-3 layers, one or two
directions, batch_first either way, with and without random lengths, on every backend that can
run the cell.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit

TORCH_CELLS = {
    "rnn": lambda **kw: nn.RNN(**kw),
    "rnn_relu": lambda **kw: nn.RNN(nonlinearity="relu", **kw),
    "lstm": lambda **kw: nn.LSTM(**kw),
    "lstm_proj": lambda **kw: nn.LSTM(proj_size=3, **kw),
    "gru": lambda **kw: nn.GRU(**kw),
}
I, H, B, T = 4, 5, 4, 6


def _as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def _run_torch(module, x, lengths, state):
    if lengths is None:
        return module(x, state)
    packed = pack_padded_sequence(x, lengths, batch_first=module.batch_first, enforce_sorted=False)
    out, final = module(packed, state)
    out, _ = pad_packed_sequence(out, batch_first=module.batch_first, total_length=T)
    return out, final


def _compare(ours, theirs, dtype, lengths, with_state, tol):
    x = torch.randn(B, T, I, dtype=dtype)
    if not theirs.batch_first:
        x = x.transpose(0, 1).contiguous()
    x_ours = x.clone().requires_grad_(True)
    x_theirs = x.clone().requires_grad_(True)
    state = None
    if with_state:
        state = tuple(torch.randn_like(s) for s in _as_tuple(ours.initial_state(B, dtype=dtype)))
        state = state if len(state) > 1 else state[0]
    out_a, final_a = ours(x_ours, state, lengths=lengths)
    out_b, final_b = _run_torch(theirs, x_theirs, lengths, state)
    torch.testing.assert_close(out_a, out_b, rtol=0, atol=tol)
    for a, b in zip(_as_tuple(final_a), _as_tuple(final_b), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=tol)
    weights = torch.randn_like(out_a)
    loss_a = (out_a * weights).sum() + sum(s.square().sum() for s in _as_tuple(final_a))
    loss_b = (out_b * weights).sum() + sum(s.square().sum() for s in _as_tuple(final_b))
    grads_a = torch.autograd.grad(loss_a, [x_ours, *ours.parameters()])
    grads_b = torch.autograd.grad(loss_b, [x_theirs, *theirs.parameters()])
    for a, b in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=tol * 10)


CASES = list(itertools.product(TORCH_CELLS, [1, 2, 3], [False, True], [True, False], [False, True]))


@pytest.mark.parametrize("cell, layers, bidirectional, batch_first, padded", CASES)
@pytest.mark.parametrize("backend", ["auto", "loop"])
def test_from_torch_float64(cell, layers, bidirectional, batch_first, padded, backend):
    theirs = TORCH_CELLS[cell](
        input_size=I,
        hidden_size=H,
        num_layers=layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
    ).double()
    ours = rnnkit.RNN.from_torch(theirs, backend=backend)
    lengths = torch.randint(1, T + 1, (B,)) if padded else None
    if padded:
        lengths[0] = T
    _compare(ours, theirs, torch.float64, lengths, with_state=padded, tol=1e-10)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("backend", ["auto", "loop"])
def test_to_torch_float32(cell, backend):
    ours = rnnkit.RNN(cell, I, H, num_layers=2, bidirectional=True, backend=backend)
    theirs = ours.to_torch()
    lengths = torch.tensor([6, 2, 5, 1])
    _compare(ours, theirs, torch.float32, lengths, with_state=True, tol=1e-5)


def test_to_torch_copies_every_weight_exactly():
    ours = rnnkit.RNN("lstm", I, H, num_layers=2, bidirectional=True, proj_size=2)
    theirs = ours.to_torch()
    back = rnnkit.RNN.from_torch(theirs)
    for (name, a), b in zip(ours.named_parameters(), back.parameters(), strict=True):
        assert torch.equal(a, b), name
    assert isinstance(theirs, nn.LSTM) and theirs.proj_size == 2


@pytest.mark.parametrize(
    "config",
    [
        dict(cell="gru", reset_after=False),
        dict(cell="lstm", residual=True),
        dict(cell="lstm", weight_drop=0.5),
        dict(cell="rnn", zoneout=0.1),
    ],
)
def test_to_torch_refuses_what_torch_cannot_express(config):
    ours = rnnkit.RNN(input_size=I, hidden_size=H, num_layers=2, **config)
    with pytest.raises(ValueError, match="to_torch needs"):
        ours.to_torch()


def test_between_layer_dropout_matches_torch_statistics_in_eval_and_differs_in_training():
    theirs = nn.LSTM(I, H, num_layers=2, dropout=0.5, batch_first=True).double()
    ours = rnnkit.RNN.from_torch(theirs)
    assert ours.dropout == 0.5
    x = torch.randn(B, T, I, dtype=torch.float64)
    ours.eval()
    theirs.eval()
    torch.testing.assert_close(ours(x)[0], theirs(x)[0], rtol=0, atol=1e-12)
    ours.train()
    a, b = ours(x)[0], ours(x)[0]
    assert not torch.allclose(a, b)  # dropout is active in training
