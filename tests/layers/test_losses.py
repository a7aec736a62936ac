"""linear_cross_entropy against torch's cross_entropy of a linear layer (the oracle)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnkit.layers import linear_cross_entropy


def problem(dtype=torch.float64, rows=37, hidden=7, vocab=13, seed=0):
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(rows, hidden, generator=generator, dtype=dtype).requires_grad_()
    weight = torch.randn(vocab, hidden, generator=generator, dtype=dtype).requires_grad_()
    bias = torch.randn(vocab, generator=generator, dtype=dtype).requires_grad_()
    targets = torch.randint(0, vocab, (rows,), generator=generator)
    targets[::5] = 0  # some rows are padding
    return features, weight, bias, targets


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("chunk_rows", [1, 8, 37, 100])
@pytest.mark.parametrize("with_bias", [True, False])
def test_value_and_gradients_equal_torch_in_float64(label_smoothing, chunk_rows, with_bias):
    features, weight, bias, targets = problem()
    bias = bias if with_bias else None
    inputs = [t for t in (features, weight, bias) if t is not None]
    expected = F.cross_entropy(
        F.linear(features, weight, bias), targets, ignore_index=0, label_smoothing=label_smoothing
    )
    expected_grads = torch.autograd.grad(expected * 3.0, inputs)
    loss = linear_cross_entropy(
        features,
        weight,
        bias,
        targets,
        ignore_index=0,
        label_smoothing=label_smoothing,
        chunk_rows=chunk_rows,
    )
    grads = torch.autograd.grad(loss * 3.0, inputs)  # the incoming gradient is applied
    torch.testing.assert_close(loss, expected, rtol=0, atol=1e-12)
    for got, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


def test_only_the_inputs_that_need_it_get_gradients():
    features, weight, bias, targets = problem()
    weight.requires_grad_(False)
    loss = linear_cross_entropy(features, weight, bias, targets, chunk_rows=4)
    loss.backward()
    expected = F.cross_entropy(F.linear(features, weight, bias), targets)
    torch.testing.assert_close(loss, expected)
    assert weight.grad is None and features.grad is not None and bias.grad is not None
    with torch.no_grad():  # no gradient wanted: the value alone
        torch.testing.assert_close(linear_cross_entropy(features, weight, bias, targets), expected)


def test_every_row_ignored_gives_nan_as_torch_does():
    features, weight, bias, targets = problem()
    targets.fill_(-100)
    assert torch.isnan(F.cross_entropy(F.linear(features, weight, bias), targets))
    assert torch.isnan(linear_cross_entropy(features, weight, bias, targets))


def test_under_bf16_autocast_it_matches_torch_under_autocast():
    features, weight, bias, targets = problem(torch.float32, rows=300, hidden=32, vocab=500)
    inputs = (features, weight, bias)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = F.cross_entropy(
            F.linear(features, weight, bias).float(), targets, label_smoothing=0.1
        )
        loss = linear_cross_entropy(features, weight, bias, targets, label_smoothing=0.1)
    expected_grads = torch.autograd.grad(expected, inputs)
    grads = torch.autograd.grad(loss, inputs)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, expected, rtol=1e-3, atol=1e-3)
    for got, want in zip(grads, expected_grads, strict=True):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, want, rtol=0.05, atol=2e-3)


def test_bad_shapes_and_smoothing_are_refused():
    features, weight, bias, targets = problem()
    with pytest.raises(ValueError, match=r"targets \(N,\)"):
        linear_cross_entropy(features, weight, bias, targets[:-1])
    with pytest.raises(ValueError, match="weight must be"):
        linear_cross_entropy(features, weight[:, :-1], bias, targets)
    with pytest.raises(ValueError, match="label_smoothing"):
        linear_cross_entropy(features, weight, bias, targets, label_smoothing=1.0)
