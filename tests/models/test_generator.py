"""ConditionalGenerator: the condition sets the state; generating equals teacher forcing on it."""

from __future__ import annotations

import pytest
import torch

from rnnkit.models.generator import ConditionalGenerator


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_generation_equals_teacher_forcing_on_its_own_output(cell: str) -> None:
    model = ConditionalGenerator(3, 2, hidden_size=8, num_layers=2, cell=cell).eval()
    condition = torch.randn(4, 3)
    generated = model.generate(condition, 9)
    assert generated.shape == (4, 9, 2)
    forced = model(condition, generated)
    torch.testing.assert_close(forced, generated, rtol=1e-5, atol=1e-5)


def test_the_condition_decides_the_sequence() -> None:
    model = ConditionalGenerator(2, 1, hidden_size=8, condition_inputs=False).eval()
    a = model.generate(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), 5)
    b = model.generate(torch.tensor([[0.0, 1.0]]), 5)
    torch.testing.assert_close(a[0], a[1])
    assert not torch.allclose(a[0], b[0])
    state = model.initial_state(torch.randn(3, 2))
    assert state.shape == (1, 3, 8)
