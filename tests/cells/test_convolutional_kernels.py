"""The fused ConvLSTM / ConvGRU half-step (rnnkit/native/convgates.c) against the textbook torch
formulas differentiated by autograd, and against central differences of itself; float32, where
the kernel serves (the float64 oracle tests in test_convolutional.py run the torch path)."""

import pytest
import torch

from rnnkit.cells.convolutional_kernels import (
    ConvGRUGates,
    ConvLSTMGates,
    conv_gru_gates,
    conv_lstm_gates,
    fused_applies,
)
from rnnkit.native import convgates

pytestmark = pytest.mark.skipif(convgates.kernel() is None, reason="no C compiler here")


@pytest.fixture(autouse=True)
def one_thread():
    """The kernel serves inference at one torch thread only (``MAX_THREADS``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


B, C, H, W = 2, 3, 4, 5


def _lstm_formula(u, q, c):
    i, f, g, o = (u + q).chunk(4, dim=1)
    c_new = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c_new.tanh(), c_new


def _gru_formula(u, q, b_hn, h):
    u_r, u_z, u_n = u.chunk(3, dim=1)
    q_r, q_z, q_n = q.chunk(3, dim=1)
    if b_hn is not None:
        q_n = q_n + b_hn.view(1, -1, 1, 1)
    r, z = (u_r + q_r).sigmoid(), (u_z + q_z).sigmoid()
    n = (u_n + r * q_n).tanh()
    return (1 - z) * n + z * h


def _gates(gates: int, channels_last: bool) -> torch.Tensor:
    """Input gates (B, G, H, W) in [-3, 3]; channels-last strides like a step of the batched
    projection, or contiguous like the per-step convolution."""
    if channels_last:
        return (3 * torch.randn(B, H, W, gates * C)).permute(0, 3, 1, 2)
    return 3 * torch.randn(B, gates * C, H, W)


def _grads(outputs, inputs, weights):
    loss = sum((w * o).sum() for w, o in zip(weights, outputs, strict=True))
    return torch.autograd.grad(loss, inputs)


@pytest.mark.parametrize("channels_last", [False, True])
def test_lstm_step_equals_the_formula_forward_and_backward(channels_last):
    torch.manual_seed(0)
    u = _gates(4, channels_last).requires_grad_()
    q = (3 * torch.randn(B, 4 * C, H, W)).requires_grad_()
    c = torch.randn(B, C, H, W).requires_grad_()
    assert fused_applies(u, q, c)
    weights = (torch.randn(B, C, H, W), torch.randn(B, C, H, W))
    fused = ConvLSTMGates.apply(u, q, c)
    expected = _lstm_formula(u, q, c)
    for a, b in zip(fused, expected, strict=True):
        torch.testing.assert_close(a, b)
    for a, b in zip(
        _grads(fused, (u, q, c), weights), _grads(expected, (u, q, c), weights), strict=True
    ):
        torch.testing.assert_close(a, b)
    with torch.no_grad():  # inference: the same values without keeping the gates
        for a, b in zip(conv_lstm_gates(u, q, c), expected, strict=True):
            torch.testing.assert_close(a, b)
        # and from one convolution of [x_t, h]: the whole pre-activation in u, no q
        for a, b in zip(conv_lstm_gates(u + q, None, c), expected, strict=True):
            torch.testing.assert_close(a, b)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("with_b_hn", [False, True])
def test_gru_step_equals_the_formula_forward_and_backward(channels_last, with_b_hn):
    torch.manual_seed(1)
    u = _gates(3, channels_last).requires_grad_()
    q = (3 * torch.randn(B, 3 * C, H, W)).requires_grad_()
    b_hn = torch.randn(C).requires_grad_() if with_b_hn else None
    h = torch.randn(B, C, H, W).requires_grad_()
    inputs = (u, q, h) if b_hn is None else (u, q, b_hn, h)
    weights = (torch.randn(B, C, H, W),)
    fused = ConvGRUGates.apply(u, q, b_hn, h)
    expected = _gru_formula(u, q, b_hn, h)
    torch.testing.assert_close(fused, expected)
    for a, b in zip(
        _grads((fused,), inputs, weights), _grads((expected,), inputs, weights), strict=True
    ):
        torch.testing.assert_close(a, b)
    with torch.no_grad():
        torch.testing.assert_close(conv_gru_gates(u, q, b_hn, h), expected)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_backward_matches_central_differences_of_the_kernel(kind):
    """The hand-written backward against the kernel's own forward: the directional derivative
    along a random direction, by central differences in float32 (hence the loose tolerance)."""
    torch.manual_seed(2)
    gates = 4 if kind == "lstm" else 3
    inputs = [torch.randn(B, gates * C, H, W), torch.randn(B, gates * C, H, W)]
    inputs.append(torch.randn(B, C, H, W))
    weights = [torch.randn(B, C, H, W) for _ in range(2 if kind == "lstm" else 1)]

    def loss(u, q, s):
        if kind == "lstm":
            out = ConvLSTMGates.apply(u, q, s)
        else:
            out = (ConvGRUGates.apply(u, q, None, s),)
        return sum((w.double() * o.double()).sum() for w, o in zip(weights, out, strict=True))

    leaves = [t.clone().requires_grad_() for t in inputs]
    grads = torch.autograd.grad(loss(*leaves), leaves)
    direction = [torch.randn_like(t) for t in inputs]
    analytic = sum((g.double() * d.double()).sum() for g, d in zip(grads, direction, strict=True))
    eps = 1e-2
    with torch.no_grad():
        plus = loss(*(t + eps * d for t, d in zip(inputs, direction, strict=True)))
        minus = loss(*(t - eps * d for t, d in zip(inputs, direction, strict=True)))
    numeric = (plus - minus) / (2 * eps)
    torch.testing.assert_close(analytic, numeric, rtol=2e-3, atol=2e-3)


def test_the_kernel_serves_only_float32_on_cpu_without_autocast_at_few_threads():
    x = torch.zeros(1, 4, 2, 2)
    assert fused_applies(x) and fused_applies(x, training=True)
    assert not fused_applies(x.double())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not fused_applies(x)
    torch.set_num_threads(2)
    assert fused_applies(x, training=True) and not fused_applies(x)
    torch.set_num_threads(3)
    assert not fused_applies(x, training=True)
