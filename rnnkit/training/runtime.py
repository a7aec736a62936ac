"""Seeds, devices and precision: the environment a run executes in."""

from __future__ import annotations

import contextlib
import functools
import random
import time
from collections.abc import Iterator

import numpy as np
import torch

from rnnkit.cpu import cpu_flags
from rnnkit.errors import UserError


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), NumPy and Python's ``random`` from one integer.

    Tasks call this before building the model, so the initial weights follow the run's seed.
    """
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator that orders epoch ``epoch``'s data: a function of (seed, epoch) alone."""
    mixed = np.random.SeedSequence([seed % 2**63, epoch]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(mixed[0]) << 32 | int(mixed[1]))


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA when present, else CPU; ``UserError`` if CUDA is asked for but absent."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(
                f"--device {name} was asked for but no CUDA GPU is visible; use --device cpu."
            )
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(
                f"--device {name} does not exist (this machine has {torch.cuda.device_count()} "
                "GPUs); use --device cuda."
            )
        return device
    if name == "cpu":
        return torch.device("cpu")
    raise UserError(f"--device {name!r} is not known; use auto, cpu or cuda.")


@contextlib.contextmanager
def precision_context(device: torch.device, precision: str) -> Iterator[None]:
    """bf16 autocast on the device for ``"bf16"``; nothing for ``"fp32"``."""
    if precision == "bf16":
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            yield
    else:
        yield


def move_to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict:
    """Every tensor of the batch on ``device`` (non-blocking from pinned memory on CUDA)."""
    return {name: t.to(device, non_blocking=True) for name, t in batch.items()}


def preferred_precision() -> str:
    """``"bf16"`` where bf16 autocast speeds recurrent training up, else ``"fp32"``.

    On a CUDA GPU: bf16 where the GPU supports it. On a CPU, bf16 instructions (AVX512-BF16, AMX)
    are necessary but not sufficient: with AMX, bf16 matrix products run several times faster
    than float32 and bf16 autocast made 2x512 LSTM training about 2x faster; with AVX512-BF16
    alone they were measured at 0.56-0.86x float32, and autocast made GRU and LSTM training
    1.3x *slower*. So on a CPU with bf16 instructions the choice is measured, once per process:
    bf16 only where its matrix products run at least ``BF16_MIN_SPEEDUP`` times as fast.
    """
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if not _cpu_has_bf16_instructions():
        return "fp32"
    return "bf16" if cpu_bf16_speedup() >= BF16_MIN_SPEEDUP else "fp32"


#: bf16 must make the CPU's matrix products this much faster to be chosen by default; the
#: margin keeps the choice stable between runs on one machine (AMX gives 3x and more)
BF16_MIN_SPEEDUP = 1.3


@functools.cache
def cpu_bf16_speedup() -> float:
    """float32 time / bf16 time of a matrix product of recurrent-training size on this CPU.

    ``(256, 512) @ (512, 2048)``, the best of 5 interleaved tries of each (about 0.1 s).
    """
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(256, 512, generator=generator)
    b = torch.randn(512, 2048, generator=generator)
    pairs = {torch.float32: (a, b), torch.bfloat16: (a.bfloat16(), b.bfloat16())}
    best = dict.fromkeys(pairs, float("inf"))
    for x, y in pairs.values():  # warm-up: first-call allocation and kernel selection
        x @ y
    for _ in range(5):
        for dtype, (x, y) in pairs.items():
            start = time.perf_counter()
            for _ in range(3):
                x @ y
            best[dtype] = min(best[dtype], time.perf_counter() - start)
    return best[torch.float32] / best[torch.bfloat16]


def _cpu_has_bf16_instructions() -> bool:
    return not cpu_flags().isdisjoint({"avx512_bf16", "amx_bf16"})
