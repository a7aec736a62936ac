"""Seeds, devices and precision: the environment a run executes in."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np
import torch

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
    """``"bf16"`` where bf16 autocast is known to speed recurrent training up, else ``"fp32"``.

    That is a CUDA GPU with bf16 support, or a CPU with bf16 instructions (AVX512-BF16 or AMX),
    where bf16 autocast made 2x512 LSTM training about 2x faster; elsewhere bf16 on a CPU is
    emulated and slower than fp32.
    """
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if _cpu_has_bf16_instructions() else "fp32"


def _cpu_has_bf16_instructions() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            flags = next((line.split() for line in cpuinfo if line.startswith("flags")), [])
    except OSError:  # not Linux: no cheap way to tell, so stay with fp32
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
