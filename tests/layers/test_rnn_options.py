"""Layer options checked against direct computations: residual, dropout variants, weight drop,
zoneout, user-defined cells, the compiled backend's fallback, and errors on bad input."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

import rnnkit
from rnnkit.cells.base import Cell
from rnnkit.layers import recurrent as recurrent_module
from rnnkit.layers.dropout import embedding_dropout, locked_dropout

I, H, B, T = 3, 4, 2, 5


class LeakyIntegrator(Cell):
    """A user-defined cell: h_t = 0.5 h_{t-1} + tanh(W x_t); written only against the contract."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.gate_size = input_size, hidden_size, hidden_size
        self.weight = nn.Parameter(torch.randn(hidden_size, input_size))

    def project(self, x: Tensor) -> Tensor:
        return torch.tanh(x @ self.weight.t())

    def step(self, u_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        h = 0.5 * state + u_t
        return h, h


def test_user_defined_cell_in_every_layer_feature():
    rnn = rnnkit.RNN(LeakyIntegrator, I, H, num_layers=2, bidirectional=True).double()
    x = torch.randn(B, T, I, dtype=torch.float64)
    out, state = rnn(x, lengths=torch.tensor([T, 2]))
    # first layer, forward direction, first sequence: closed form sum_k 0.5^(t-k) tanh(W x_k)
    u = torch.tanh(x[0] @ rnn.cells[0].weight.t())
    expected = torch.stack([sum(0.5 ** (t - k) * u[k] for k in range(t + 1)) for t in range(T)])
    first_layer = rnnkit.Recurrent(rnn.cells[0])
    torch.testing.assert_close(first_layer(x)[0][0], expected)
    assert out.shape == (B, T, 2 * H) and state.shape == (4, B, H)
    assert out[1, 2:].abs().max() == 0


def test_residual_adds_each_layers_input_from_the_second_layer():
    plain = rnnkit.RNN("gru", I, H, num_layers=2).double()
    residual = rnnkit.RNN("gru", I, H, num_layers=2, residual=True).double()
    residual.load_state_dict(plain.state_dict())
    x = torch.randn(B, T, I, dtype=torch.float64)
    first = rnnkit.Recurrent(plain.cells[0])(x)[0]
    second = rnnkit.Recurrent(plain.cells[1])(first)[0]
    torch.testing.assert_close(residual(x)[0], second + first)
    torch.testing.assert_close(plain(x)[0], second)


@pytest.mark.parametrize("backend", ["auto", "loop"])
def test_variational_dropout_shares_one_mask_across_time(backend):
    """Recover what layer 2 received by inverting it, and check the mask is constant in time."""
    hidden = 16
    rnn = rnnkit.RNN("rnn", I, hidden, num_layers=2, dropout=0.5, variational=True, backend=backend)
    rnn = rnn.double().train()
    second = rnn.cells[1]
    with torch.no_grad():  # layer 2 becomes h_t = tanh(W x_t): invertible, no recurrence
        second.weight_hh.zero_()
        second.bias_ih.zero_()
        second.bias_hh.zero_()
    x = torch.randn(B, T, I, dtype=torch.float64)
    out, _ = rnn(x)
    received = torch.atanh(out) @ torch.linalg.inv(second.weight_ih).T
    first = rnnkit.Recurrent(rnn.cells[0])(x)[0]
    ratio = (received / first).detach()
    kept = ratio.abs() > 1.0
    assert torch.all(kept == kept[:, :1])  # the same units are dropped at every step
    assert 0 < int(kept.sum()) < kept.numel()
    torch.testing.assert_close(ratio[kept], torch.full_like(ratio[kept], 2.0))
    torch.testing.assert_close(ratio[~kept], torch.zeros_like(ratio[~kept]), atol=1e-8, rtol=0)


def test_locked_dropout_and_embedding_dropout_statistics():
    x = torch.ones(400, 6, 50)
    y = locked_dropout(x, 0.3, training=True)
    assert torch.all(y == y[:, :1])  # one mask per sequence and feature
    assert abs(float((y == 0).float().mean()) - 0.3) < 0.02
    assert torch.equal(locked_dropout(x, 0.3, training=False), x)
    emb = nn.Embedding(1000, 4)
    tokens = torch.arange(1000).view(1, -1)
    out = embedding_dropout(emb, tokens, 0.5, training=True)
    dropped = (out == 0).all(dim=-1)
    assert abs(float(dropped.float().mean()) - 0.5) < 0.06
    torch.testing.assert_close(out[~dropped], 2 * emb.weight[tokens[~dropped]])


@pytest.mark.parametrize("backend", ["auto", "loop"])
def test_weight_drop_uses_one_dropped_matrix_per_forward_pass(backend):
    rnn = rnnkit.RNN("lstm", I, H, weight_drop=0.5, backend=backend).double()
    x = torch.randn(B, T, I, dtype=torch.float64)
    rnn.eval()
    clean = rnn(x)[0]
    plain = rnnkit.RNN("lstm", I, H).double()
    plain.cells[0].load_state_dict(
        {
            k.replace("parametrizations.weight_hh.original", "weight_hh"): v
            for k, v in rnn.cells[0].state_dict().items()
        }
    )
    torch.testing.assert_close(clean, plain(x)[0])  # eval: no drop
    rnn.train()
    torch.manual_seed(3)
    out = rnn(x)[0]
    torch.manual_seed(3)  # the same draw, made by hand, must explain the whole sequence
    dropped = torch.nn.functional.dropout(plain.cells[0].weight_hh, 0.5, True)
    with torch.no_grad():
        plain.cells[0].weight_hh.copy_(dropped)
    torch.testing.assert_close(out, plain(x)[0])


def test_zoneout_in_eval_mixes_old_and_new_state():
    rate = 0.25
    rnn = rnnkit.RNN("rnn", I, H, zoneout=rate).double().eval()
    cell = rnn.cells[0]
    x = torch.randn(B, T, I, dtype=torch.float64)
    h = torch.zeros(B, H, dtype=torch.float64)
    expected = []
    for t in range(T):
        new, _ = cell(x[:, t], h)
        h = rate * h + (1 - rate) * new
        expected.append(h)
    torch.testing.assert_close(rnn(x)[0], torch.stack(expected, 1))
    rnn.train()
    torch.manual_seed(0)
    out_a = rnn(x)[0]
    assert not torch.allclose(out_a, torch.stack(expected, 1))


def test_compiled_backend_falls_back_to_loop_with_one_warning(monkeypatch):
    def broken_compile(*args, **kwargs):
        raise RuntimeError("no compiler")

    monkeypatch.setattr(torch, "compile", broken_compile)
    monkeypatch.setattr(recurrent_module, "_compiled_loop", None)
    monkeypatch.setattr(recurrent_module, "_compile_failed", False)
    compiled = rnnkit.RNN("gru", I, H, backend="compiled").double()
    loop = rnnkit.RNN("gru", I, H, backend="loop").double()
    loop.load_state_dict(compiled.state_dict())
    x = torch.randn(B, T, I, dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="falling back to 'loop'"):
        out = compiled(x)[0]
    torch.testing.assert_close(out, loop(x)[0])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compiled(x)  # warned once only


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda r: r(torch.randn(B, T, I + 1)),
            r"expected input of shape \(B, T, 3\), got \(2, 5, 4\)",
        ),
        (lambda r: r(torch.randn(T, I)), r"expected input of shape \(B, T, 3\), got \(5, 3\)"),
        (
            lambda r: r(torch.randn(B, T, I), lengths=torch.tensor([0, 3])),
            r"lengths must lie in 1\.\.5",
        ),
        (lambda r: r(torch.randn(B, T, I), lengths=torch.tensor([6, 3])), r"got values in 3\.\.6"),
        (
            lambda r: r(torch.randn(B, T, I), lengths=torch.tensor([5])),
            r"lengths must have shape \(2,\)",
        ),
        (lambda r: r(torch.randn(B, T, I), torch.zeros(1, B, H)), r"state must have shape"),
        (lambda r: r(torch.randn(B, T, I), (torch.zeros(2, B, H),) * 2), r"state must have shape"),
    ],
)
def test_bad_input_raises_value_error_naming_expected_and_actual(call, message):
    rnn = rnnkit.RNN("gru", I, H, num_layers=2)
    with pytest.raises(ValueError, match=message):
        call(rnn)


def test_bad_construction_arguments():
    with pytest.raises(ValueError, match="cell must be one of .*'lstm'.*got 'lstn'"):
        rnnkit.RNN("lstn", I, H)
    with pytest.raises(ValueError, match="backend must be one of"):
        rnnkit.RNN("lstm", I, H, backend="cudnn")
    with pytest.raises(ValueError, match="dropout must be in"):
        rnnkit.RNN("lstm", I, H, dropout=1.5)
    with pytest.raises(ValueError, match="needs a cell with a scan"):
        rnnkit.RNN("lstm", I, H, backend="scan")(torch.randn(B, T, I))


@pytest.mark.parametrize("cell", sorted(rnnkit.layers.rnn.CELL_NAMES))
def test_traced_backend_equals_the_loop_with_padding_and_both_directions(cell):
    """The backend ONNX export traces: one scan operator, the same numbers as the step loop."""
    torch.manual_seed(0)
    loop = rnnkit.RNN(cell, 3, 5, num_layers=2, bidirectional=True, backend="loop").eval()
    traced = rnnkit.RNN(cell, 3, 5, num_layers=2, bidirectional=True, backend="traced").eval()
    traced.load_state_dict(loop.state_dict())
    x, lengths = torch.randn(3, 6, 3), torch.tensor([6, 2, 4])
    with torch.no_grad():
        for given in (None, lengths):
            expected, expected_state = loop(x, lengths=given)
            actual, actual_state = traced(x, lengths=given)
            torch.testing.assert_close(actual, expected, rtol=0, atol=1e-6)
            for a, e in zip(
                recurrent_module.as_tuple(actual_state),
                recurrent_module.as_tuple(expected_state),
                strict=True,
            ):
                torch.testing.assert_close(a, e, rtol=0, atol=1e-6)


def test_traced_backend_refuses_to_train_with_zoneout():
    layer = rnnkit.RNN("gru", 3, 4, backend="traced", zoneout=0.2)
    with pytest.raises(ValueError, match="inference only"):
        layer(torch.randn(2, 3, 3))
