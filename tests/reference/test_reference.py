"""The NumPy reference against independent oracles: finite differences, torch's own
``nn.RNN/LSTM/GRU`` under autograd; and rnnkit's cells and ``rnnkit.RNN`` against the reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit import reference
from rnnkit.cells import ElmanCell, GRUCell, LSTMCell
from rnnkit.reference import CELLS, backward, forward, gradient_errors, numerical_gradient

NUM_GATES = {"rnn": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}
STEPS, BATCH, INPUT, HIDDEN = 5, 3, 4, 5


def random_problem(cell: str, seed: int, *, bias: bool = True):
    """Random float64 ``params``, ``x (T, B, I)``, initial state, loss weights ``dhs (T, B, H)``."""
    rng = np.random.default_rng(seed)
    gate_size = NUM_GATES[cell] * HIDDEN
    params = {
        "weight_ih": 0.5 * rng.standard_normal((gate_size, INPUT)),
        "weight_hh": 0.5 * rng.standard_normal((gate_size, HIDDEN)),
    }
    if bias:
        params["bias_ih"] = 0.5 * rng.standard_normal(gate_size)
        params["bias_hh"] = 0.5 * rng.standard_normal(gate_size)
    x = rng.standard_normal((STEPS, BATCH, INPUT))
    h0 = rng.standard_normal((BATCH, HIDDEN))
    state0 = (h0, rng.standard_normal((BATCH, HIDDEN))) if cell == "lstm" else h0
    dhs = rng.standard_normal((STEPS, BATCH, HIDDEN))
    return params, x, state0, dhs


def as_tuple(state) -> tuple:
    """A state or state gradient as a tuple of components: ``(h,)`` or the LSTM's ``(h, c)``."""
    return tuple(state) if isinstance(state, tuple) else (state,)


def leaf(array: np.ndarray) -> torch.Tensor:
    return torch.tensor(array, dtype=torch.float64, requires_grad=True)


def assert_close(actual, expected, atol: float) -> None:
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().numpy()
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol)


# --- the finite-difference checker itself ----------------------------------------------------


def test_numerical_gradient_matches_an_analytic_derivative():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    a_before = a.copy()
    numeric = numerical_gradient(lambda v: float(np.sum(np.sin(v) * b)), a)
    assert_close(numeric, np.cos(a) * b, atol=1e-9)
    np.testing.assert_array_equal(a, a_before)  # the caller's array is left alone


def test_gradient_check_catches_a_slightly_wrong_backward(monkeypatch):
    params, x, h0, _ = random_problem("rnn", seed=1)
    spec = CELLS["rnn"]

    def backward_one_percent_off(*args):
        grads, dx, dh0 = spec.backward(*args)
        return {name: 1.01 * g for name, g in grads.items()}, dx, dh0

    monkeypatch.setitem(CELLS, "rnn", spec._replace(backward=backward_one_percent_off))
    errors = gradient_errors("rnn", params, x, h0)
    assert min(errors[name] for name in params) > 1e-3
    assert errors["x"] < 1e-6 and errors["h0"] < 1e-6


# --- reference gradients against finite differences ------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("cell", list(NUM_GATES))
def test_gradients_match_finite_differences(cell, bias):
    params, x, h0, _ = random_problem(cell, seed=2, bias=bias)
    errors = gradient_errors(cell, params, x, h0, seed=3)
    expected_names = {*params, "x", "h0"} | ({"c0"} if cell == "lstm" else set())
    assert set(errors) == expected_names
    assert max(errors.values()) < 1e-6, errors
    assert reference.gradient_check(cell, params, x, h0, seed=3) == max(errors.values())


# --- reference against torch.nn.RNN / LSTM / GRU under autograd ------------------------------


def torch_module(cell: str, params: dict[str, np.ndarray]) -> torch.nn.RNNBase:
    """torch's single-layer module for ``cell`` in float64, holding a copy of ``params``."""
    bias = "bias_ih" in params
    if cell in ("rnn", "rnn_relu"):
        nonlinearity = "tanh" if cell == "rnn" else "relu"
        module = torch.nn.RNN(INPUT, HIDDEN, nonlinearity=nonlinearity, bias=bias)
    else:
        module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](INPUT, HIDDEN, bias=bias)
    module = module.double()
    with torch.no_grad():
        for name, value in params.items():
            getattr(module, f"{name}_l0").copy_(torch.from_numpy(value))
    return module


@pytest.mark.parametrize("with_final_state", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("cell", list(NUM_GATES))
def test_forward_and_gradients_match_torch_module(cell, bias, with_final_state):
    params, x, state0, dhs = random_problem(cell, seed=4, bias=bias)
    rng = np.random.default_rng(5)
    # Loss = sum(hs * dhs) [+ sum(final_state * d_final) when the final state is read too].
    d_final = tuple(rng.standard_normal((BATCH, HIDDEN)) for _ in as_tuple(state0))

    hs, cache = forward(cell, params, x, state0)
    d_final_state = None
    if with_final_state:
        d_final_state = d_final if cell == "lstm" else d_final[0]
    grads, dx, dstate0 = backward(cell, params, cache, dhs, d_final_state=d_final_state)

    module = torch_module(cell, params)
    x_torch = leaf(x)
    state_torch = tuple(leaf(s[None]) for s in as_tuple(state0))  # (num_layers=1, B, H)
    out, final_torch = module(x_torch, state_torch if cell == "lstm" else state_torch[0])
    loss = (out * torch.from_numpy(dhs)).sum()
    if with_final_state:
        for f, d in zip(as_tuple(final_torch), d_final, strict=True):
            loss = loss + (f[0] * torch.from_numpy(d)).sum()
    loss.backward()

    assert_close(hs, out, atol=1e-10)
    for ours, theirs in zip(as_tuple(cache.final_state), as_tuple(final_torch), strict=True):
        assert_close(ours, theirs[0], atol=1e-10)
    assert set(grads) == set(params)
    for name in params:
        assert_close(grads[name], getattr(module, f"{name}_l0").grad, atol=1e-9)
    assert_close(dx, x_torch.grad, atol=1e-9)
    for ours, theirs in zip(as_tuple(dstate0), state_torch, strict=True):
        assert_close(ours, theirs.grad[0], atol=1e-9)


# --- reference against rnnkit's cells, stepped one at a time under autograd ------------------


def rnnkit_cell(cell: str, bias: bool) -> torch.nn.Module:
    if cell in ("rnn", "rnn_relu"):
        nonlinearity = "tanh" if cell == "rnn" else "relu"
        module = ElmanCell(INPUT, HIDDEN, nonlinearity=nonlinearity, bias=bias, init="uniform")
    else:
        module = {"lstm": LSTMCell, "gru": GRUCell}[cell](INPUT, HIDDEN, bias=bias, init="uniform")
    return module.double()


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("cell", list(NUM_GATES))
def test_forward_and_gradients_match_rnnkit_cells(cell, bias):
    torch.manual_seed(6)
    module = rnnkit_cell(cell, bias)
    params = {name: p.detach().numpy().copy() for name, p in module.named_parameters()}
    _, x, state0, dhs = random_problem(cell, seed=7, bias=bias)

    hs, cache = forward(cell, params, x, state0)
    grads, dx, dstate0 = backward(cell, params, cache, dhs)

    x_torch = leaf(x)
    state_leaves = tuple(leaf(s) for s in as_tuple(state0))
    state = state_leaves if cell == "lstm" else state_leaves[0]
    outputs = []
    for x_t in x_torch.unbind(0):
        h_t, state = module(x_t, state)
        outputs.append(h_t)
    out = torch.stack(outputs)
    (out * torch.from_numpy(dhs)).sum().backward()

    assert_close(hs, out, atol=1e-10)
    for name, p in module.named_parameters():
        assert_close(grads[name], p.grad, atol=1e-9)
    assert_close(dx, x_torch.grad, atol=1e-9)
    for ours, theirs in zip(as_tuple(dstate0), state_leaves, strict=True):
        assert_close(ours, theirs.grad, atol=1e-9)


# --- reference against the rnnkit.RNN layer (batch first), both of its backends -------------


@pytest.mark.parametrize("backend", ["loop", "fused"])
@pytest.mark.parametrize("cell", list(NUM_GATES))
def test_outputs_final_state_and_gradients_match_rnnkit_rnn_layer(cell, backend):
    torch.manual_seed(11)
    layer = rnnkit.RNN(cell, INPUT, HIDDEN, backend=backend, init="uniform").double()
    params = {name.removeprefix("cells.0."): p for name, p in layer.named_parameters()}
    assert set(params) == {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}
    params_np = {name: p.detach().numpy().copy() for name, p in params.items()}
    _, x, state0, dhs = random_problem(cell, seed=12)
    rng = np.random.default_rng(13)
    d_final = tuple(rng.standard_normal((BATCH, HIDDEN)) for _ in as_tuple(state0))

    hs, cache = forward(cell, params_np, x, state0)
    d_final_state = d_final if cell == "lstm" else d_final[0]
    grads, dx, dstate0 = backward(cell, params_np, cache, dhs, d_final_state=d_final_state)

    x_torch = leaf(x.transpose(1, 0, 2))  # (B, T, I): the layer is batch first
    state_torch = tuple(leaf(s[None]) for s in as_tuple(state0))  # (num_layers=1, B, H)
    out, final_torch = layer(x_torch, state_torch if cell == "lstm" else state_torch[0])
    loss = (out * torch.from_numpy(dhs.transpose(1, 0, 2))).sum()
    for f, d in zip(as_tuple(final_torch), d_final, strict=True):
        loss = loss + (f[0] * torch.from_numpy(d)).sum()
    loss.backward()

    assert_close(hs.transpose(1, 0, 2), out, atol=1e-10)
    for ours, theirs in zip(as_tuple(cache.final_state), as_tuple(final_torch), strict=True):
        assert_close(ours, theirs[0], atol=1e-10)
    for name, p in params.items():
        assert_close(grads[name], p.grad, atol=1e-9)
    assert_close(dx.transpose(1, 0, 2), x_torch.grad, atol=1e-9)
    for ours, theirs in zip(as_tuple(dstate0), state_torch, strict=True):
        assert_close(ours, theirs.grad[0], atol=1e-9)


# --- misuse ------------------------------------------------------------------------------------


def test_unknown_cell_name_is_refused():
    params, x, h0, _ = random_problem("rnn", seed=8)
    with pytest.raises(ValueError, match="cell must be one of .* got 'elman'"):
        forward("elman", params, x, h0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p, x, s: (p, x[..., :-1], s), r"x must have shape \(T >= 1, B, 4\)"),
        (lambda p, x, s: (p, x[:0], s), r"x must have shape \(T >= 1, B, 4\)"),
        (lambda p, x, s: (p, x, (s[0][:, :-1], s[1])), r"h0 must have shape \(3, 5\)"),
        (lambda p, x, s: (p, x, s[0]), r"h0 must be a pair \(h0, c0\)"),
        (lambda p, x, s: ({**p, "weight_hr": p["weight_hh"]}, x, s), "params must hold"),
        (lambda p, x, s: ({**p, "bias_hh": p["bias_hh"][:-1]}, x, s), r"bias_hh must .*\(20,\)"),
        (lambda p, x, s: ({**p, "weight_hh": p["weight_hh"][:-1]}, x, s), r"weight_hh must"),
    ],
)
def test_bad_lstm_arguments_raise_value_errors_that_name_them(change, message):
    params, x, state0, _ = random_problem("lstm", seed=9)
    with pytest.raises(ValueError, match=message):
        forward("lstm", *change(params, x, state0))


def test_backward_refuses_a_cache_or_gradient_that_does_not_fit():
    params, x, h0, dhs = random_problem("gru", seed=10)
    _, cache = forward("gru", params, x, h0)
    with pytest.raises(ValueError, match=r"cache must come from forward\('rnn'"):
        backward("rnn", random_problem("rnn", seed=10)[0], cache, dhs)
    with pytest.raises(ValueError, match="dhs must have the shape of hs"):
        backward("gru", params, cache, dhs[:-1])
    with pytest.raises(ValueError, match="d_final_state must have shape"):
        backward("gru", params, cache, dhs, d_final_state=dhs[0, :, :-1])
