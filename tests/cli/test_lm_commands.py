"""``rnnkit train lm``, ``generate``, ``evaluate`` and ``info`` end to end, and every bad input.

Each bad input must end with exit code 2 and one line ``error: ...`` on stderr that names the file
or option at fault, never a traceback.
"""

from __future__ import annotations

import json
import math
import shutil

import pytest
from conftest import TINY, assert_user_error, rnnkit
from safetensors.torch import load_file

from rnnkit.data.tokenizers import load_tokenizer


def lstm_lm_parameters(vocab: int, embedding: int, hidden: int) -> int:
    """Parameters of embedding + one LSTM layer (two bias vectors, as torch) + output layer."""
    lstm = 4 * hidden * (embedding + hidden) + 2 * 4 * hidden
    return vocab * embedding + lstm + hidden * vocab + vocab


def test_train_evaluate_generate_info(tiny_run, tiny_corpus):
    for name in ("config.json", "model.safetensors", "tokenizer.json", "metrics.csv", "loss.png"):
        assert (tiny_run / name).is_file(), name

    result = rnnkit("evaluate", tiny_run, "--data", tiny_corpus, "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert set(metrics) == {"loss", "perplexity", "bpc", "tokens"}
    assert metrics["perplexity"] == pytest.approx(math.exp(metrics["loss"]), rel=1e-9)
    assert metrics["bpc"] == pytest.approx(metrics["loss"] / math.log(2), rel=1e-9)
    characters = len(tiny_corpus.read_text())
    # every character but the first of each (at most 16) evaluation stream, and the remainder
    assert characters - 2 * 16 <= metrics["tokens"] < characters
    # three steps of training cannot have learnt much: the loss is near uniform over 13 symbols
    assert 0.5 * math.log(13) < metrics["loss"] < 1.5 * math.log(13)

    result = rnnkit("generate", tiny_run, "--prime", "abc", "--length", "40", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("abc") and result.stdout.endswith("\n")
    generated = result.stdout[3:-1]
    assert len(generated) == 40  # char tokenizer: one character per token
    assert set(generated) <= set("abcdefgh\n\ufffd")
    again = rnnkit("generate", tiny_run, "--prime", "abc", "--length", "40", "--seed", "3")
    assert again.stdout == result.stdout

    result = rnnkit("info", tiny_run, "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    vocab = load_tokenizer(tiny_run).vocab_size
    assert vocab == 4 + 9  # four special tokens and the nine characters of the text
    assert info["task"] == "lm"
    assert info["model"]["parameters"] == lstm_lm_parameters(vocab, 16, 16)
    assert info["training"]["steps"] == 3
    assert info["metrics"]["loss"] > 0
    text = rnnkit("info", tiny_run)
    assert text.exit_code == 0 and "task: lm" in text.stdout and "parameters:" in text.stdout


def test_config_file_with_command_line_override(tmp_path, tiny_corpus):
    config = tmp_path / "lm.toml"
    config.write_text(
        f'data = "{tiny_corpus}"\nhidden = 24\nbatch-size = 2\ntime-limit = "5m"\n'
        "tie_weights = true\n",
        encoding="utf-8",
    )
    out = tmp_path / "run"
    result = rnnkit("train", "lm", "--config", config, "--out", out, *TINY)  # TINY has --hidden 16
    assert result.exit_code == 0, (result.output, result.exception)
    options = json.loads((out / "config.json").read_text())["options"]
    assert options["data"] == str(tiny_corpus)
    assert options["hidden"] == 16  # the command line wins
    assert options["batch_size"] == 4  # TINY's --batch-size also wins over the file
    assert options["tie_weights"] is True and options["time_limit"] == 300.0  # from the file
    assert options["layers"] == 1


def test_resume_continues_to_the_same_weights(tmp_path, tiny_corpus):
    """A stopped run, resumed without repeating its flags, ends where an uninterrupted one does."""
    flags = [*TINY, "--schedule", "constant", "--eval-every", "2"]
    whole, part = tmp_path / "whole", tmp_path / "part"
    whole_run = rnnkit(
        "train", "lm", "--data", tiny_corpus, "--out", whole, *flags, "--max-steps", "6"
    )
    assert whole_run.exit_code == 0, whole_run.output
    # the run stops after 3 steps (TINY), then continues to step 6 from its checkpoint
    first = rnnkit("train", "lm", "--data", tiny_corpus, "--out", part, *flags, "--max-steps", "3")
    assert first.exit_code == 0, first.output
    second = rnnkit("train", "lm", "--out", part, "--resume", "--max-steps", "6")
    assert second.exit_code == 0, (second.output, second.exception)
    expected = load_file(whole / "model.safetensors")
    resumed = load_file(part / "model.safetensors")
    assert expected.keys() == resumed.keys()
    for name, tensor in expected.items():
        assert resumed[name].equal(tensor), name
    assert json.loads((part / "config.json").read_text())["results"]["step"] == 6


def test_resume_with_changed_model_options_is_refused(tmp_path, tiny_corpus):
    out = tmp_path / "run"
    assert rnnkit("train", "lm", "--data", tiny_corpus, "--out", out, *TINY).exit_code == 0
    result = rnnkit("train", "lm", "--out", out, "--resume", "--hidden", "32")
    assert_user_error(result, "cannot resume", "'hidden'", "16", "32")


def test_training_into_an_existing_run_needs_resume(tiny_run, tiny_corpus):
    result = rnnkit("train", "lm", "--data", tiny_corpus, "--out", tiny_run, *TINY)
    assert_user_error(result, str(tiny_run), "--resume")


# ------------------------------------------------------------------------ bad training input


def test_missing_data_file(tmp_path):
    missing = tmp_path / "absent.txt"
    result = rnnkit("train", "lm", "--data", missing, "--out", tmp_path / "run", *TINY)
    assert_user_error(result, str(missing), "does not exist")


def test_no_data_option(tmp_path):
    assert_user_error(rnnkit("train", "lm", "--out", tmp_path / "run", *TINY), "--data")


def test_empty_data_file(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    result = rnnkit("train", "lm", "--data", empty, "--out", tmp_path / "run", *TINY)
    assert_user_error(result, str(empty), "empty")


def test_bytes_that_are_not_utf8_offer_encoding(tmp_path):
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("caf\u00e9 au lait\n".encode("latin-1") * 300)
    result = rnnkit("train", "lm", "--data", latin, "--out", tmp_path / "run", *TINY)
    assert_user_error(result, str(latin), "not valid utf-8", "--encoding")
    fixed = rnnkit(
        "train", "lm", "--data", latin, "--out", tmp_path / "run", *TINY, "--encoding", "latin-1"
    )
    assert fixed.exit_code == 0, fixed.output
    assert "\u00e9" in (tmp_path / "run" / "tokenizer.json").read_text(encoding="utf-8")


def test_corpus_too_small_for_one_batch_says_what_fits(tmp_path):
    small = tmp_path / "small.txt"
    small.write_text("hello world, " * 4, encoding="utf-8")  # 52 characters, 46 for training
    args = ["train", "lm", "--data", small, *TINY]
    result = rnnkit(*args, "--out", tmp_path / "run", "--batch-size", "16")  # needs 16 x (8 + 1)
    line = assert_user_error(result, str(small), "46 tokens", "needs 144", "--batch-size 5")
    # the suggestion works, in the same --out: the refused run left nothing behind
    assert rnnkit(*args, "--out", tmp_path / "run", "--batch-size", "5").exit_code == 0, line


# ------------------------------------------------------------------------ bad run directories


@pytest.mark.parametrize("command", ["generate", "evaluate"])
def test_directory_that_is_not_a_run(tmp_path, tiny_corpus, command):
    extra = ["--data", str(tiny_corpus)] if command == "evaluate" else []
    result = rnnkit(command, tmp_path, *extra)
    assert_user_error(result, str(tmp_path), "config.json", "not an rnnkit run")
    missing = tmp_path / "nowhere"
    assert_user_error(rnnkit(command, missing, *extra), str(missing), "does not exist")


def fake_run_of_task(tiny_run, directory, task: str):
    """A copy of ``tiny_run`` whose config.json claims another task."""
    shutil.copytree(tiny_run, directory)
    config = json.loads((directory / "config.json").read_text())
    config["task"] = task
    (directory / "config.json").write_text(json.dumps(config))
    return directory


def test_generate_on_a_run_of_another_task(tmp_path, tiny_run):
    other = fake_run_of_task(tiny_run, tmp_path / "tagger", "tag")
    assert_user_error(rnnkit("generate", other), str(other), "'tag'", "not 'lm'")


def test_evaluate_on_a_run_of_an_unknown_task(tmp_path, tiny_run, tiny_corpus):
    # evaluate dispatches on the run's task (lm.evaluate refusing other tasks is tested in
    # tests/tasks/test_lm.py); a task this rnnkit does not have is refused by name
    other = fake_run_of_task(tiny_run, tmp_path / "astrology", "astrology")
    result = rnnkit("evaluate", other, "--data", tiny_corpus)
    assert_user_error(result, "'astrology'", "upgrade rnnkit")


@pytest.mark.parametrize("command", ["generate", "evaluate"])
def test_truncated_weights(tmp_path, tiny_run, tiny_corpus, command):
    damaged = tmp_path / "damaged"
    shutil.copytree(tiny_run, damaged)
    weights = damaged / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    extra = ["--data", str(tiny_corpus)] if command == "evaluate" else []
    assert_user_error(rnnkit(command, damaged, *extra), str(weights), "truncated or corrupted")


def test_prime_with_unseen_characters_works(tiny_run):
    result = rnnkit("generate", tiny_run, "--prime", "Zürich €", "--length", "5", "--seed", "0")
    assert result.exit_code == 0, (result.output, result.exception)
    assert result.stdout.startswith("Zürich €") and len(result.stdout) == len("Zürich €") + 5 + 1


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--length", "-1"), ("--temperature", "-0.5"), ("--top-k", "-2"), ("--top-p", "0")],
)
def test_bad_generation_options(tiny_run, flag, value):
    assert_user_error(rnnkit("generate", tiny_run, flag, value), flag)


def test_evaluate_on_a_missing_file(tiny_run, tmp_path):
    missing = tmp_path / "absent.txt"
    assert_user_error(rnnkit("evaluate", tiny_run, "--data", missing), str(missing))


def test_evaluate_refuses_an_output_file_the_task_does_not_write(tiny_run, tiny_corpus, tmp_path):
    output = tmp_path / "per-item.csv"
    result = rnnkit("evaluate", tiny_run, "--data", tiny_corpus, "--output", output)
    assert_user_error(result, "--output", "lm run")
    assert not output.exists()


def test_generate_with_reduced_precision_weights(tiny_run):
    from rnnkit.tasks import lm

    for weights in ("bf16", "int8"):
        flags = ["--prime", "ab", "--length", "30", "--seed", "5", "--weights", weights]
        result = rnnkit("generate", tiny_run, *flags)
        assert result.exit_code == 0, result.output
        expected = "".join(lm.generate(tiny_run, "ab", 30, seed=5, weights=weights))
        assert result.stdout == "ab" + expected + "\n"
    assert_user_error(rnnkit("generate", tiny_run, "--weights", "fp8"), "--weights", "int8")
