"""``rnnkit.cpu``: the flags line of /proc/cpuinfo, and the fall-back where there is none."""

from __future__ import annotations

import builtins
import io
import os
import subprocess
import sys

import pytest

from rnnkit import cpu

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu avx2 avx512_bf16 sse4_2
bugs\t\t: spectre_v1
"""


@pytest.fixture
def fresh_cache():
    cpu.cpu_flags.cache_clear()
    yield
    cpu.cpu_flags.cache_clear()


def test_flags_line_is_parsed(monkeypatch, fresh_cache):
    monkeypatch.setattr(builtins, "open", lambda *args, **kwargs: io.StringIO(CPUINFO))
    assert cpu.cpu_flags() == {"fpu", "avx2", "avx512_bf16", "sse4_2"}
    assert cpu.cpu_description() == "avx2 avx512_bf16 fpu sse4_2"


def test_unreadable_cpuinfo_gives_no_flags_and_the_processor_name(monkeypatch, fresh_cache):
    def refuse(*args, **kwargs):
        raise FileNotFoundError("/proc/cpuinfo")

    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(cpu.platform, "processor", lambda: "arm64")
    assert cpu.cpu_flags() == frozenset()
    assert cpu.cpu_description() == "arm64"


@pytest.mark.parametrize(("given", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_importing_rnnkit_before_torch_makes_openmp_threads_wait_passively(given, expected):
    # in a fresh interpreter, where torch's OpenMP runtime has not read its settings yet
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given is not None:
        env["OMP_WAIT_POLICY"] = given
    code = "import os, rnnkit, torch; print(os.environ['OMP_WAIT_POLICY'])"
    shown = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == expected
