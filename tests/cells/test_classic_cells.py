"""The classic cells against torch's own ``nn.RNNCell/LSTMCell/GRUCell`` with copied weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnkit.cells import ElmanCell, GRUCell, LSTMCell

PAIRS = [
    (lambda: ElmanCell(5, 7), lambda: nn.RNNCell(5, 7)),
    (lambda: ElmanCell(5, 7, nonlinearity="relu"), lambda: nn.RNNCell(5, 7, nonlinearity="relu")),
    (lambda: LSTMCell(5, 7), lambda: nn.LSTMCell(5, 7)),
    (lambda: GRUCell(5, 7), lambda: nn.GRUCell(5, 7)),
    (lambda: LSTMCell(5, 7, bias=False), lambda: nn.LSTMCell(5, 7, bias=False)),
    (lambda: GRUCell(5, 7, bias=False), lambda: nn.GRUCell(5, 7, bias=False)),
]


def _random_state(cell, batch):
    state = cell.initial_state(batch, dtype=torch.float64)
    if isinstance(state, tuple):
        return tuple(torch.randn_like(s) for s in state)
    return torch.randn_like(state)


@pytest.mark.parametrize("make_ours, make_theirs", PAIRS)
def test_step_matches_torch_cell(make_ours, make_theirs):
    ours, theirs = make_ours().double(), make_theirs().double()
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    state = _random_state(ours, 3)
    h, _ = ours(x, state)
    expected = theirs(x, state)
    expected_h = expected[0] if isinstance(expected, tuple) else expected
    torch.testing.assert_close(h, expected_h, rtol=0, atol=1e-12)
    (g_ours,) = torch.autograd.grad(h.square().sum(), x)
    (g_theirs,) = torch.autograd.grad(expected_h.square().sum(), x)
    torch.testing.assert_close(g_ours, g_theirs, rtol=0, atol=1e-12)


def test_lstm_cell_state_is_h_and_c():
    cell = LSTMCell(3, 4).double()
    theirs = nn.LSTMCell(3, 4).double()
    theirs.load_state_dict(cell.state_dict())
    x = torch.randn(2, 3, dtype=torch.float64)
    state = _random_state(cell, 2)
    _, (h, c) = cell(x, state)
    h_t, c_t = theirs(x, state)
    torch.testing.assert_close(c, c_t, rtol=0, atol=1e-12)
    torch.testing.assert_close(h, h_t, rtol=0, atol=1e-12)


def test_gru_cho_form_matches_the_textbook_equations():
    """reset_after=False: n = tanh(W_in x + b_in + W_hn (r * h) + b_hn), written out here."""
    cell = GRUCell(4, 3, reset_after=False).double()
    x = torch.randn(2, 4, dtype=torch.float64)
    h = torch.randn(2, 3, dtype=torch.float64)
    w_ir, w_iz, w_in = cell.weight_ih.chunk(3)
    w_hr, w_hz, w_hn = cell.weight_hh.chunk(3)
    b_ir, b_iz, b_in = cell.bias_ih.chunk(3)
    b_hr, b_hz, b_hn = cell.bias_hh.chunk(3)
    r = torch.sigmoid(x @ w_ir.T + b_ir + h @ w_hr.T + b_hr)
    z = torch.sigmoid(x @ w_iz.T + b_iz + h @ w_hz.T + b_hz)
    n = torch.tanh(x @ w_in.T + b_in + (r * h) @ w_hn.T + b_hn)
    expected = (1 - z) * n + z * h
    out, _ = cell(x, h)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
    # and it differs from the reset-after form when b_hn and h are non-zero
    after = GRUCell(4, 3).double()
    after.load_state_dict(cell.state_dict())
    with torch.no_grad():
        after.bias_hh.uniform_(-1, 1)
        cell.bias_hh.copy_(after.bias_hh)
    assert not torch.allclose(cell(x, h)[0], after(x, h)[0])


def test_lstm_projection_matches_torch():
    ours = LSTMCell(4, 6, proj_size=2).double()
    theirs = nn.LSTM(4, 6, proj_size=2, batch_first=True).double()
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"):
        getattr(theirs, f"{name}_l0").data.copy_(getattr(ours, name))
    x = torch.randn(3, 1, 4, dtype=torch.float64)
    h, (h_state, c_state) = ours(x[:, 0])
    out, (h_n, c_n) = theirs(x)
    assert h.shape == (3, 2) and c_state.shape == (3, 6)
    torch.testing.assert_close(h, out[:, 0], rtol=0, atol=1e-12)
    torch.testing.assert_close(c_state, c_n[0], rtol=0, atol=1e-12)


def test_default_initialisation_follows_design():
    """Xavier input blocks, orthogonal recurrent blocks, zero biases, LSTM forget bias 1."""
    cell = LSTMCell(8, 16)
    for block in cell.weight_hh.detach().chunk(4):
        torch.testing.assert_close(block.T @ block, torch.eye(16), atol=1e-5, rtol=0)
    bound = (6 / (8 + 16)) ** 0.5
    assert cell.weight_ih.abs().max() <= bound
    total_bias = (cell.bias_ih + cell.bias_hh).detach()
    torch.testing.assert_close(total_bias[16:32], torch.ones(16))
    assert total_bias[:16].abs().max() == 0 and total_bias[32:].abs().max() == 0


def test_uniform_initialisation_is_torch_scheme():
    cell = GRUCell(8, 25, init="uniform")
    for p in cell.parameters():
        assert p.abs().max() <= 0.2 and p.abs().max() > 0.15  # U(-1/sqrt(H), 1/sqrt(H)), H = 25
    with pytest.raises(ValueError, match="init must be"):
        GRUCell(8, 25, init="normal")
