"""Shell completion: ``rnnkit --install-completion`` / ``--show-completion`` and click's protocol.

The scripts typer prints call ``rnnkit`` back with ``_RNNKIT_COMPLETE`` set; these tests drive that
protocol as the shell would: once in a fresh process, then in this one (faster).
"""

from __future__ import annotations

import os
import subprocess
import sys

from typer.testing import CliRunner

from rnnkit.cli import app


def _complete(env: dict[str, str]):
    return CliRunner().invoke(app, [], env=env, prog_name="rnnkit")


def test_the_bash_script_calls_rnnkit_back_from_a_fresh_process():
    bash = subprocess.run(
        [sys.executable, "-m", "rnnkit"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "_RNNKIT_COMPLETE": "source_bash"},
    )
    assert bash.returncode == 0, bash.stderr
    assert "complete -o default -F _rnnkit_completion rnnkit" in bash.stdout
    assert "_RNNKIT_COMPLETE=complete_bash" in bash.stdout


def test_zsh_and_fish_scripts():
    assert "#compdef rnnkit" in _complete({"_RNNKIT_COMPLETE": "source_zsh"}).stdout
    assert "complete --command rnnkit" in _complete({"_RNNKIT_COMPLETE": "source_fish"}).stdout


def test_completion_offers_commands_tasks_and_flags():
    def complete(words: str) -> list[str]:
        env = {
            "_RNNKIT_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - 1),
        }
        result = _complete(env)
        assert result.exit_code == 0, result.output
        return result.stdout.split()

    assert complete("rnnkit tr") == ["train", "transcribe", "translate"]
    assert complete("rnnkit train l") == ["lm"]
    assert "--hidden" in complete("rnnkit train lm --hi")


def test_help_lists_the_completion_options():
    result = CliRunner().invoke(app, ["--help"])
    assert "--install-completion" in result.stdout and "--show-completion" in result.stdout
