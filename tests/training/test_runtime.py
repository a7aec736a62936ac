"""The default precision: bf16 only where it is measured to be faster (CUDA aside)."""

from __future__ import annotations

import pytest
import torch

from rnnkit.training import runtime


@pytest.fixture
def cpu_only(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    return monkeypatch


@pytest.mark.parametrize(
    ("speedup", "expected"),
    [(3.0, "bf16"), (runtime.BF16_MIN_SPEEDUP, "bf16"), (1.1, "fp32"), (0.6, "fp32")],
)
def test_a_cpu_with_bf16_instructions_gets_bf16_only_where_it_is_faster(
    cpu_only: pytest.MonkeyPatch, speedup: float, expected: str
) -> None:
    cpu_only.setattr(runtime, "_cpu_has_bf16_instructions", lambda: True)
    cpu_only.setattr(runtime, "cpu_bf16_speedup", lambda: speedup)
    assert runtime.preferred_precision() == expected


def test_a_cpu_without_bf16_instructions_gets_fp32_without_measuring(
    cpu_only: pytest.MonkeyPatch,
) -> None:
    def measure() -> float:
        raise AssertionError("bf16 speed was measured on a CPU without bf16 instructions")

    cpu_only.setattr(runtime, "_cpu_has_bf16_instructions", lambda: False)
    cpu_only.setattr(runtime, "cpu_bf16_speedup", measure)
    assert runtime.preferred_precision() == "fp32"


def test_the_measurement_is_a_positive_ratio_taken_once() -> None:
    first = runtime.cpu_bf16_speedup()
    assert 0.0 < first < float("inf")
    assert runtime.cpu_bf16_speedup() == first  # cached: one choice per process
