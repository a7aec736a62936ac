"""What the CPU can do, read once: the instruction-set flags the kernel reports.

Two layers ask: ``rnnkit.native`` keys its build cache on them (a kernel compiled with
``-march=native`` must not run on another CPU) and ``rnnkit.training.runtime`` asks whether bf16
instructions exist at all before it measures them. Imports nothing of rnnkit.
"""

from __future__ import annotations

import functools
import platform


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The flags of ``/proc/cpuinfo`` (``avx2``, ``avx512_bf16``, ...); empty where unreadable."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            line = next((line for line in cpuinfo if line.startswith("flags")), "")
    except OSError:  # not Linux
        return frozenset()
    return frozenset(line.partition(":")[2].split())


def bf16_flags() -> str:
    """The flags that decide how fast bfloat16 matrix products run here (AMX, AVX512-BF16),
    sorted and joined, for a benchmark's header: "none" without any."""
    return " ".join(
        sorted(f for f in cpu_flags() if f.startswith("amx") or f == "avx512_bf16")
    ) or ("none")


def cpu_description() -> str:
    """A string that changes when the CPU's instruction set does: its sorted flags, or else the
    processor's name as ``platform`` reports it."""
    flags = cpu_flags()
    return " ".join(sorted(flags)) if flags else platform.processor()
