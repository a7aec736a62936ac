"""``rnnkit train translate``, ``rnnkit translate`` and ``rnnkit evaluate`` on a translate run,
including one test per bad input the issue lists."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.data.synthetic import date_pairs, write_pairs_tsv
from rnnkit.training import write_config

TINY_MODEL = [
    "--tokenizer", "char", "--embedding-size", "8", "--encoder-hidden", "8",
    "--encoder-layers", "1", "--decoder-hidden", "16", "--batch-size", "16",
    "--max-source-length", "12", "--progress", "off", "--precision", "fp32",
]  # fmt: skip


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_user_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A briefly trained run on dates: (run dir, validation file)."""
    folder = tmp_path_factory.mktemp("translate")
    train = write_pairs_tsv(date_pairs(200, seed=0), folder / "train.tsv")
    val = write_pairs_tsv(date_pairs(20, seed=1), folder / "val.tsv")
    result = invoke(
        "train", "translate", "--data", train, "--val", val, "--out", folder / "run",
        "--max-steps", "4", *TINY_MODEL,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return folder / "run", val


def test_translate_text_beam_and_attention_plot(run, tmp_path):
    run_dir, _ = run
    plot = tmp_path / "attention.png"
    result = invoke(
        "translate", run_dir, "--text", "22 November 2026", "--text", "Nov 22, 26",
        "--beam", "3", "--no-repeat-ngram", "2", "--attention-plot", plot,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 2
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_translate_file_and_evaluate_json(run, tmp_path):
    run_dir, val = run
    output = tmp_path / "out.txt"
    result = invoke("translate", run_dir, "--data", val, "--output", output, "--beam", "1")
    assert result.exit_code == 0, result.output
    assert len(output.read_text(encoding="utf-8").splitlines()) == 20
    result = invoke("evaluate", run_dir, "--data", val, "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert {"bleu", "chrf", "exact_match"} <= metrics.keys() and metrics["sentences"] == 20
    result = invoke("info", run_dir, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["task"] == "translate"
    assert json.loads(result.stdout)["decoding"]["allow_unknown"] is False


def test_allow_unknown_flags(run, tmp_path):
    run_dir, val = run
    for flag in ("--allow-unknown", "--forbid-unknown"):
        result = invoke("translate", run_dir, "--text", "22 November 2026", flag)
        assert result.exit_code == 0, result.output
    train = tmp_path / "train.tsv"
    write_pairs_tsv(date_pairs(40, seed=0), train)
    result = invoke(
        "train", "translate", "--data", train, "--out", tmp_path / "run", "--max-steps", "1",
        "--allow-unknown", *TINY_MODEL,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    result = invoke("info", tmp_path / "run", "--json")
    assert json.loads(result.stdout)["decoding"]["allow_unknown"] is True


def test_lines_without_a_tab(tmp_path):
    data = tmp_path / "bad.tsv"
    data.write_text("a\tb\nno tab\nc\td\nnone here\n", encoding="utf-8")
    result = invoke("train", "translate", "--data", data, "--out", tmp_path / "run", *TINY_MODEL)
    assert_user_error(result, str(data), "2 lines have no tab", "first: line 2")


def test_empty_source_or_target(tmp_path):
    data = tmp_path / "bad.tsv"
    data.write_text("a\tb\n\tonly a target\n", encoding="utf-8")
    result = invoke("train", "translate", "--data", data, "--out", tmp_path / "run", *TINY_MODEL)
    assert_user_error(result, str(data), "empty source or target", "line 2")


def test_source_longer_than_the_maximum_is_truncated_with_a_warning(run):
    run_dir, _ = run
    long_text = "Wednesday, 22 November 2026 and then some more words"  # > 11 characters
    result = invoke("translate", run_dir, "--text", long_text)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 1
    assert "warning:" in result.stderr and "truncated" in result.stderr


def test_translate_on_a_run_of_another_task(tmp_path):
    write_config(tmp_path / "lm_run", "lm", options={})
    result = invoke("translate", tmp_path / "lm_run", "--text", "hello")
    assert_user_error(result, "task 'lm'", "rnnkit train translate")


def test_translate_needs_text_or_data_with_output(run, tmp_path):
    run_dir, val = run
    assert_user_error(invoke("translate", run_dir), "--text")
    assert_user_error(invoke("translate", run_dir, "--data", val), "--output")


def test_bad_decoding_settings_are_refused_in_one_line(run, tmp_path):
    run_dir, val = run
    result = invoke("translate", run_dir, "--text", "22 November 2026", "--beam", "0")
    assert_user_error(result, "--beam must be a whole number >= 1, got 0")
    result = invoke("translate", run_dir, "--text", "22 November 2026", "--max-length-ratio", "0")
    assert_user_error(result, "--max-length-ratio must be positive")
    result = invoke(
        "train", "translate", "--data", val, "--out", tmp_path / "run", "--no-repeat-ngram", "-1",
        *TINY_MODEL,
    )  # fmt: skip
    assert_user_error(result, "--no-repeat-ngram must be a whole number >= 0")
    assert not (tmp_path / "run").exists()


def test_train_help_shows_the_translate_panels():
    result = invoke("train", "translate", "--help")
    assert result.exit_code == 0, result.output
    for panel in ("Data", "Model", "Teacher forcing", "Decoding", "Training"):
        assert panel in result.stdout
    assert "Train an encoder-decoder with attention on sentence pairs." in result.stdout
