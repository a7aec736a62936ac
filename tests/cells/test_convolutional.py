"""ConvLSTM / ConvGRU against independent oracles: torch's nn.LSTM / nn.GRU (1x1 kernel on 1x1
images), a plain PyTorch loop over concatenated-input convolutions (3x3 kernel), finite
differences; and inside rnnkit.RNN: masking, bidirectionality and streaming state."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import rnnkit
from rnnkit.cells import ConvGRUCell, ConvLSTMCell


@pytest.fixture
def one_thread():
    """One torch thread, at which the fused kernel serves inference as well as training."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _copy_from_torch(cell, module):
    with torch.no_grad():
        cell.weight_ih.copy_(module.weight_ih_l0.view_as(cell.weight_ih))
        cell.weight_hh.copy_(module.weight_hh_l0.view_as(cell.weight_hh))
        cell.bias_ih.copy_(module.bias_ih_l0)
        cell.bias_hh.copy_(module.bias_hh_l0)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_one_by_one_kernel_on_one_pixel_equals_torch(kind):
    torch.manual_seed(0)
    features, hidden, batch, steps = 5, 7, 3, 6
    module = (nn.LSTM if kind == "lstm" else nn.GRU)(features, hidden, batch_first=True).double()
    rnn = rnnkit.RNN(f"conv_{kind}", features, hidden, image_size=1, kernel_size=1).double()
    _copy_from_torch(rnn.cells[0], module)
    x = torch.randn(batch, steps, features, dtype=torch.float64)
    expected, expected_state = module(x)
    out, state = rnn(x)
    torch.testing.assert_close(out, expected)
    for a, b in zip(
        state if isinstance(state, tuple) else (state,),
        expected_state if isinstance(expected_state, tuple) else (expected_state,),
        strict=True,
    ):
        torch.testing.assert_close(a, b)


def _plain_conv_lstm(x, w_ih, w_hh, b_ih, b_hh):
    """Textbook ConvLSTM: one convolution of [x_t, h] per step, gates i, f, g, o."""
    batch, _, _, height, width = x.shape
    hidden = w_hh.shape[1]
    weight = torch.cat([w_ih, w_hh], dim=1)
    h = x.new_zeros(batch, hidden, height, width)
    c = torch.zeros_like(h)
    outs = []
    for x_t in x.unbind(1):
        gates = F.conv2d(torch.cat([x_t, h], dim=1), weight, b_ih + b_hh, padding=1)
        i, f, g, o = gates.chunk(4, dim=1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        outs.append(h)
    return torch.stack(outs, 1), h, c


def _plain_conv_gru(x, w_ih, w_hh, b_ih, b_hh):
    batch, _, _, height, width = x.shape
    hidden = w_hh.shape[1]
    h = x.new_zeros(batch, hidden, height, width)
    outs = []
    for x_t in x.unbind(1):
        gx = F.conv2d(x_t, w_ih, b_ih, padding=1)
        gh = F.conv2d(h, w_hh, b_hh, padding=1)
        rx, zx, nx = gx.chunk(3, dim=1)
        rh, zh, nh = gh.chunk(3, dim=1)
        r, z = (rx + rh).sigmoid(), (zx + zh).sigmoid()
        n = (nx + r * nh).tanh()
        h = (1 - z) * n + z * h
        outs.append(h)
    return torch.stack(outs, 1), h


@pytest.mark.parametrize("input_conv", ["per_step", "batched"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_three_by_three_kernel_equals_plain_loop(kind, input_conv):
    torch.manual_seed(1)
    batch, steps, channels, hidden, size = 2, 4, 3, 5, 6
    rnn = rnnkit.RNN(
        f"conv_{kind}",
        channels * size * size,
        hidden,
        image_size=size,
        init="uniform",
        input_conv=input_conv,
    ).double()
    cell = rnn.cells[0]
    x = torch.randn(batch, steps, channels, size, size, dtype=torch.float64)
    out, state = rnn(x.flatten(2))
    args = (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    if kind == "lstm":
        expected, h, c = _plain_conv_lstm(x, *args)
        torch.testing.assert_close(cell.state_image(state[1][0]), c)
    else:
        expected, h = _plain_conv_gru(x, *args)
        state = (state,)
    torch.testing.assert_close(out.unflatten(2, (hidden, size, size)), expected)
    torch.testing.assert_close(cell.state_image(state[0][0]), h)


@pytest.mark.parametrize("input_conv", ["per_step", "batched"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_float32_outputs_and_gradients_equal_plain_loop(kind, input_conv, one_thread):
    """float32 on CPU, where the fused C kernel runs the gates (rnnkit/native/convgates.c):
    outputs, final state and every weight's gradient against autograd through the plain loop."""
    torch.manual_seed(4)
    batch, steps, channels, hidden, size = 2, 5, 3, 4, 6
    rnn = rnnkit.RNN(
        f"conv_{kind}", channels * size * size, hidden, image_size=size, init="uniform",
        input_conv=input_conv,
    )  # fmt: skip
    cell = rnn.cells[0]
    x = torch.randn(batch, steps, channels, size, size)
    out, state = rnn(x.flatten(2))
    params = [cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh]
    plain = _plain_conv_lstm if kind == "lstm" else _plain_conv_gru
    expected, *expected_state = plain(x, *params)
    out = out.unflatten(2, (hidden, size, size))
    torch.testing.assert_close(out, expected)
    state = state if isinstance(state, tuple) else (state,)
    for got, want in zip(state, expected_state, strict=True):
        torch.testing.assert_close(cell.state_image(got[0]), want)
    weight = torch.randn_like(expected)
    grads = torch.autograd.grad((out * weight).sum(), params)
    expected_grads = torch.autograd.grad((expected * weight).sum(), params)
    for got, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_inference_in_chunks_equals_plain_loop(kind, dtype, one_thread):
    """Without gradients (the ConvLSTM then convolves ``[x_t, h]`` in one call, float32 through
    the fused kernel), whole and in two chunks with the state carried, against the plain loop."""
    torch.manual_seed(6)
    batch, steps, channels, hidden, size = 2, 5, 3, 4, 6
    rnn = rnnkit.RNN(
        f"conv_{kind}", channels * size * size, hidden, image_size=size, init="uniform"
    ).to(dtype)
    cell = rnn.cells[0]
    x = torch.randn(batch, steps, channels, size, size, dtype=dtype)
    plain = _plain_conv_lstm if kind == "lstm" else _plain_conv_gru
    with torch.no_grad():
        expected = plain(x, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)[0]
        whole, _ = rnn(x.flatten(2))
        first, carry = rnn(x[:, :2].flatten(2))
        second, _ = rnn(x[:, 2:].flatten(2), carry)
    for out in (whole, torch.cat([first, second], 1)):
        torch.testing.assert_close(out.unflatten(2, (hidden, size, size)), expected)


@pytest.mark.parametrize("cls", [ConvLSTMCell, ConvGRUCell])
def test_gradient_into_a_zero_initial_state(cls):
    """An all-zero initial state that needs a gradient still gets its recurrent convolution."""
    torch.manual_seed(5)
    cell = cls(2 * 3 * 3, 2, image_size=3, init="uniform").double()
    layer = rnnkit.layers.Recurrent(cell)
    x = torch.randn(2, 3, 2 * 3 * 3, dtype=torch.float64)
    zeros = [torch.zeros(2, s, dtype=torch.float64, requires_grad=True) for s in cell.state_sizes]

    def functional(*state):
        return layer(x, state if len(state) > 1 else state[0])[0]

    assert torch.autograd.gradcheck(functional, tuple(zeros), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("input_conv", ["per_step", "batched"])
@pytest.mark.parametrize("cls", [ConvLSTMCell, ConvGRUCell])
def test_gradients_match_finite_differences(cls, input_conv):
    torch.manual_seed(2)
    cell = cls(
        2 * 4 * 4, 3, image_size=4, kernel_size=3, init="uniform", input_conv=input_conv
    ).double()
    layer = rnnkit.layers.Recurrent(cell)
    x = torch.randn(2, 3, 2 * 4 * 4, dtype=torch.float64, requires_grad=True)
    params = [cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh]

    # the weights enter as inputs too, so gradcheck checks their gradients
    def functional(x, *weights):
        names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
        return torch.func.functional_call(
            layer, {f"cell.{n}": w for n, w in zip(names, weights, strict=True)}, (x,)
        )[0]

    weights = [p.detach().clone().requires_grad_(True) for p in params]
    assert torch.autograd.gradcheck(functional, (x, *weights), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_masking_bidirectional_and_streaming_in_rnn(kind, dtype, one_thread):
    """float32 runs the fused C kernel, float64 the torch path; both behave alike."""
    torch.manual_seed(3)
    size, channels, hidden, steps = 5, 2, 3, 6
    rnn = rnnkit.RNN(
        f"conv_{kind}",
        channels * size * size,
        hidden,
        image_size=size,
        num_layers=2,
        bidirectional=True,
    ).to(dtype)
    assert rnn.output_size == 2 * hidden * size * size
    x = torch.randn(3, steps, channels * size * size, dtype=dtype)
    lengths = torch.tensor([steps, 2, 4])
    out, state = rnn(x, lengths=lengths)
    parts = state if isinstance(state, tuple) else (state,)
    for b, n in enumerate(lengths.tolist()):
        alone, alone_state = rnn(x[b : b + 1, :n])
        torch.testing.assert_close(out[b : b + 1, :n], alone)
        assert out[b, n:].abs().max() == 0 if n < steps else True
        alone_parts = alone_state if isinstance(alone_state, tuple) else (alone_state,)
        for p, a in zip(parts, alone_parts, strict=True):
            torch.testing.assert_close(p[:, b : b + 1], a)
    one_way = rnnkit.RNN(
        f"conv_{kind}", channels * size * size, hidden, image_size=size, num_layers=2
    ).to(dtype)
    whole, whole_state = one_way(x)
    first, carry = one_way(x[:, :2])
    second, carry = one_way(x[:, 2:], carry)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)
    for a, b in zip(
        carry if isinstance(carry, tuple) else (carry,),
        whole_state if isinstance(whole_state, tuple) else (whole_state,),
        strict=True,
    ):
        torch.testing.assert_close(a, b)


def test_bad_geometry_is_refused():
    with pytest.raises(ValueError, match="pixels"):
        ConvLSTMCell(50, 3, image_size=4)
    with pytest.raises(ValueError, match="odd"):
        ConvGRUCell(16, 3, image_size=4, kernel_size=2)
    with pytest.raises(ValueError, match="input_conv"):
        ConvLSTMCell(16, 3, image_size=4, input_conv="sometimes")


@pytest.mark.parametrize("input_conv", ["per_step", "batched"])
def test_recurrent_convolution_of_zero_and_nearly_zero_states(input_conv):
    """The skipped convolution of an all-zero state equals the convolution; a state that is zero
    only in its first element is convolved."""
    torch.manual_seed(7)
    cell = ConvLSTMCell(2 * 4 * 4, 3, image_size=4, init="uniform", input_conv=input_conv)
    bias = cell.bias_hh if input_conv == "per_step" else None
    nearly = torch.randn(2, 3, 4, 4)
    nearly[0, 0, 0, 0] = 0.0
    for h in (torch.zeros(2, 3, 4, 4), nearly):
        expected = F.conv2d(h, cell.weight_hh, bias, padding=1)
        torch.testing.assert_close(cell.recurrent(h), expected)
