"""``rnnkit.cpu``: the flags line of /proc/cpuinfo, and the fall-back where there is none."""

from __future__ import annotations

import builtins
import io
import os
import subprocess
import sys

import pytest

from rnnkit import cpu, openmp

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


@pytest.mark.parametrize(
    ("given", "load", "expected"),
    [
        (None, 1.2, "PASSIVE"),
        (None, 0.1, None),
        ("ACTIVE", 1.2, "ACTIVE"),
        ("PASSIVE", 0.1, "PASSIVE"),
    ],
)
def test_threads_sleep_while_waiting_only_on_a_busy_machine_unless_the_user_chose(
    monkeypatch, given, load, expected
):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    if given is not None:
        monkeypatch.setenv("OMP_WAIT_POLICY", given)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    openmp.choose_wait_policy()
    assert os.environ.get("OMP_WAIT_POLICY") == expected


def test_importing_rnnkit_chooses_the_policy_before_torch_loads():
    # a fresh interpreter whose load average reads busy: the policy is set by the time torch is
    # imported (rnnkit/__init__.py runs it first)
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    code = (
        "import os; os.getloadavg = lambda: (9.0, 9.0, 9.0); import rnnkit, torch; "
        "print(os.environ['OMP_WAIT_POLICY'])"
    )
    shown = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "PASSIVE"
