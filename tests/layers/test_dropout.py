"""``rnnkit.layers.dropout.dropout``: the cheap CPU mask has dropout's distribution and gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnkit.layers.dropout import MASK_LEVELS, dropout


def test_identity_when_not_training_or_p_zero():
    x = torch.randn(64, 128)
    assert dropout(x, 0.3, training=False) is x
    assert dropout(x, 0.0, training=True) is x


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_drop_rate_and_scale(p):
    torch.manual_seed(0)
    x = torch.rand(4096, 256) + 0.5  # no zeros of its own
    y = dropout(x, p, training=True)
    dropped = y == 0
    n = x.numel()
    # binomial: the rate is within 6 standard deviations of p, at every position modulo 4
    # (each 64-bit draw serves four consecutive elements)
    for lane in range(4):
        rate = dropped.flatten()[lane::4].double().mean().item()
        assert abs(rate - p) < 6 * (p * (1 - p) / (n / 4)) ** 0.5
    keep = 1 - round(p * MASK_LEVELS) / MASK_LEVELS
    torch.testing.assert_close(y[~dropped], x[~dropped] / keep)
    assert abs(keep - (1 - p)) <= 0.5 / MASK_LEVELS


def test_neighbours_are_dropped_independently():
    torch.manual_seed(1)
    dropped = (dropout(torch.ones(1 << 20), 0.5, training=True) == 0).double()
    for shift in (1, 2, 3, 4):
        both = (dropped[:-shift] * dropped[shift:]).mean().item()
        assert abs(both - 0.25) < 0.005


def test_gradient_is_the_mask():
    torch.manual_seed(2)
    x = (torch.rand(300, 100) + 0.5).requires_grad_()
    y = dropout(x, 0.4, training=True)
    (y * 3.0).sum().backward()
    torch.testing.assert_close(x.grad, 3.0 * y.detach() / x.detach())


def test_small_tensors_are_torch_dropout():
    x = torch.randn(10, 20)
    torch.manual_seed(3)
    expected = F.dropout(x, 0.3, True)
    torch.manual_seed(3)
    torch.testing.assert_close(dropout(x, 0.3, training=True), expected)


def test_bad_probability():
    with pytest.raises(ValueError, match=r"\[0, 1\), got 1.0"):
        dropout(torch.ones(3), 1.0, training=True)
