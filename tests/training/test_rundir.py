"""Run directories: config.json checks, weights files, resume refusals."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

import rnnkit
from rnnkit.errors import UserError
from rnnkit.training.rundir import (
    FORMAT_VERSION,
    load_weights,
    read_run_config,
    require_same_config,
    save_weights,
    write_config,
)


@dataclass
class ModelConfig:
    hidden: int = 16
    cell: str = "lstm"
    sizes: tuple = (1, 2)


def test_config_round_trip_has_task_version_and_sections(tmp_path):
    write_config(tmp_path, "lm", model=ModelConfig(), data={"tokens": 10, "file": tmp_path / "x"})
    raw = json.loads((tmp_path / "config.json").read_text())
    assert raw["task"] == "lm" and raw["format_version"] == FORMAT_VERSION
    assert raw["rnnkit_version"] == rnnkit.__version__
    assert raw["model"] == {"hidden": 16, "cell": "lstm", "sizes": [1, 2]}
    assert read_run_config(tmp_path, expected_task="lm") == raw


def test_reserved_section_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        write_config(tmp_path, "lm", format_version={"x": 1})


def _config_file(tmp_path, text):
    (tmp_path / "config.json").write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "absent", "does not exist"),
        (lambda p: (p / "f.txt").write_text("x") and p / "f.txt", "is not a directory"),
        (lambda p: p, "no config.json"),
        (lambda p: _config_file(p, "{not json"), "not valid JSON"),
        (lambda p: _config_file(p, "[1, 2]"), "no 'task'"),
        (lambda p: _config_file(p, '{"task": "lm"}'), "format_version"),
        (lambda p: _config_file(p, '{"task": "lm", "format_version": 99}'), "newer rnnkit"),
        (lambda p: _config_file(p, '{"task": "classify", "format_version": 1}'), "'classify'"),
    ],
)
def test_read_run_config_says_what_is_wrong_in_one_sentence(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(UserError, match=message) as caught:
        read_run_config(path, expected_task="lm")
    text = str(caught.value)
    assert str(path) in text and "\n" not in text


class Tied(nn.Module):
    def __init__(self, vocab=7, hidden=4):
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        self.out = nn.Linear(hidden, vocab)
        self.out.weight = self.embed.weight  # tied
        self.register_buffer("count", torch.tensor(3))


def test_weights_round_trip_exactly_with_tied_weights(tmp_path):
    source, target = Tied(), Tied()
    save_weights(source, tmp_path / "model.safetensors")
    stored = load_file(tmp_path / "model.safetensors")
    assert "out.weight" not in stored  # the alias is stored once
    source.count += 1
    target.count.fill_(0)
    load_weights(target, tmp_path / "model.safetensors")
    assert torch.equal(target.embed.weight, source.embed.weight)
    assert target.out.weight is target.embed.weight  # still tied after loading
    assert torch.equal(target.out.bias, source.out.bias)
    assert int(target.count) == 3  # the buffer value at save time


def test_truncated_weights_file_is_a_user_error_naming_it(tmp_path):
    path = tmp_path / "model.safetensors"
    save_weights(Tied(), path)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(UserError, match="truncated or corrupted") as caught:
        load_weights(Tied(), path)
    assert str(path) in str(caught.value)


def test_garbage_weights_file_is_a_user_error(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"\x00\x01garbage" * 10)
    with pytest.raises(UserError, match="truncated or corrupted"):
        load_weights(Tied(), path)


def test_weights_of_another_shape_are_refused_naming_the_tensor(tmp_path):
    path = tmp_path / "model.safetensors"
    save_weights(Tied(hidden=4), path)
    with pytest.raises(UserError, match=r"'embed.weight' has shape \(7, 4\) in the file"):
        load_weights(Tied(hidden=5), path)
    with pytest.raises(UserError, match="no tensor"):
        load_weights(nn.Sequential(nn.Linear(2, 2)), path)


def test_missing_weights_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_weights(Tied(), tmp_path / "model.safetensors")


def test_resume_with_a_changed_model_option_names_it():
    stored = {"hidden": 512, "cell": "lstm", "rnn": {"layers": 2}}
    require_same_config(stored, dict(stored))
    with pytest.raises(UserError, match=r"'hidden' was 512 in the run but is 256 now"):
        require_same_config(stored, {**stored, "hidden": 256})
    with pytest.raises(UserError, match="'rnn.layers'"):
        require_same_config(stored, {**stored, "rnn": {"layers": 3}})
    with pytest.raises(UserError, match="'dropout' was '<unset>'"):
        require_same_config(stored, {**stored, "dropout": 0.1})
    require_same_config(stored, {**stored, "hidden": 1}, ignore=["hidden"])
    require_same_config(ModelConfig(), {"hidden": 16, "cell": "lstm", "sizes": [1, 2]})
