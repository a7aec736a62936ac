"""The real entry points: ``python -m rnnkit`` in a fresh process, and ``rnnkit demo``."""

from __future__ import annotations

import subprocess
import sys

from conftest import rnnkit


def test_python_dash_m_reports_a_user_error_in_one_line(tmp_path):
    missing = tmp_path / "no-run"
    completed = subprocess.run(
        [sys.executable, "-m", "rnnkit", "generate", str(missing)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.splitlines() == [
        f"error: run directory {missing} does not exist; give the --out directory of a run."
    ]


def test_demo_trains_writes_a_run_and_generates(tmp_path):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "config.json").write_text("{}")  # a previous run there is replaced
    result = rnnkit(
        "demo",
        "--out",
        out,
        "--time-limit",
        "1s",
        "--corpus-size",
        "30000",
        "--length",
        "40",
        "--hidden",
        "32",
    )
    assert result.exit_code == 0, (result.output, result.exception)
    for name in ("config.json", "model.safetensors", "loss.png", "metrics.csv", "stdlib.txt"):
        assert (out / name).is_file(), name
    assert "--- sample ---" in result.stderr  # shown while it learns
    assert result.stdout.startswith("def ") and len(result.stdout) == len("def ") + 40 + 1


def test_demo_refuses_to_replace_a_folder_that_is_not_a_run(tmp_path):
    keep = tmp_path / "precious.txt"
    keep.write_text("do not delete")
    result = rnnkit("demo", "--out", tmp_path, "--time-limit", "1s")
    assert result.exit_code == 2 and result.stderr.startswith(f"error: {tmp_path} exists")
    assert keep.read_text() == "do not delete"
