"""Helpers for command-line tests: run ``rnnkit`` in-process and check its error contract."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rnnkit.cli import app

#: a model small and short enough to train in well under a second on a loaded CPU
TINY = [
    "--hidden", "16", "--layers", "1", "--bptt", "8", "--batch-size", "4",
    "--max-steps", "3", "--progress", "off", "--precision", "fp32", "--device", "cpu",
]  # fmt: skip


def rnnkit(*args: str | Path):
    """Run ``rnnkit ARGS`` in this process; returns click's Result (exit_code, stdout, stderr)."""
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_user_error(result, *fragments: str) -> str:
    """Exit code 2, nothing on stdout, one ``error: ...`` line on stderr holding ``fragments``."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """A short repetitive text: 2,000 characters of a 9-character cycle."""
    path = tmp_path_factory.mktemp("corpus") / "cycle.txt"
    path.write_text("abcdefgh\n" * 222, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_corpus) -> Path:
    """A finished lm run on ``tiny_corpus`` (read-only for tests; copy it to damage it)."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    result = rnnkit("train", "lm", "--data", tiny_corpus, "--out", out, *TINY)
    assert result.exit_code == 0, (result.output, result.exception)
    return out
