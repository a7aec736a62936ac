"""Every ``rnnkit train <task>`` exposes exactly its options dataclass as flags, same defaults.

So the command line, a TOML config and the Python API cannot drift apart, for every task that
registers a train command now or later.
"""

from __future__ import annotations

import dataclasses

import pytest
import typer
from conftest import assert_user_error, rnnkit

from rnnkit.cli import app
from rnnkit.training.options import TrainOptions, parse_duration


def train_commands() -> dict:
    train_group = typer.main.get_command(app).commands["train"]
    return dict(train_group.commands)


def test_lm_is_registered():
    assert "lm" in train_commands()


@pytest.mark.parametrize("name", sorted(train_commands()))
def test_flags_match_the_options_dataclass(name):
    command = train_commands()[name]
    options_class = command.callback.options_class
    fields = {field.name for field in dataclasses.fields(options_class)}
    params = {param.name: param for param in command.params if param.name != "help"}
    assert set(params) == fields | {"config"}
    assert fields >= {field.name for field in dataclasses.fields(TrainOptions)}
    defaults = options_class()
    for field_name in fields:
        shown = params[field_name].default
        expected = getattr(defaults, field_name)
        if field_name == "time_limit" and shown is not None:
            shown = parse_duration(shown)
        assert shown == expected, (name, field_name, shown, expected)


def test_every_option_is_accepted_in_a_config_file(tmp_path):
    """A TOML file naming every option (data left out) passes the key and value checks."""
    from rnnkit.tasks.lm import LMOptions

    lines = []
    for field in dataclasses.fields(LMOptions):
        value = getattr(LMOptions(), field.name)
        if value is None or field.name == "data":
            continue
        key = field.name.replace("_", "-")
        if isinstance(value, bool):
            lines.append(f"{key} = {str(value).lower()}")
        elif isinstance(value, (int, float)):
            lines.append(f"{key} = {value!r}")
        else:
            lines.append(f'{key} = "{value}"')
    config = tmp_path / "all.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = rnnkit("train", "lm", "--config", config, "--out", tmp_path / "run")
    assert_user_error(result, "--data")  # the only thing missing


def test_unknown_key_in_a_train_config(tmp_path):
    config = tmp_path / "typo.toml"
    config.write_text("hiden = 3\n", encoding="utf-8")
    result = rnnkit("train", "lm", "--config", config)
    assert_user_error(result, str(config), "'hiden'", "did you mean 'hidden'?")


@pytest.mark.parametrize(
    "task, flag, extra",
    [
        ("classify", "--mixup", []),
        ("classify", "--adversarial", []),
        ("speech", "--lm-weight", []),
        ("caption", "--attention-penalty", []),
        ("detect", "--threshold-margin", ["--target", "value"]),
    ],
)
def test_a_negative_weight_or_margin_is_one_sentence_and_writes_nothing(
    tmp_path, task, flag, extra
):
    out = tmp_path / "run"
    result = rnnkit("train", task, "--data", tmp_path / "x.csv", *extra, "--out", out, flag, "-1")
    assert_user_error(result, f"{flag} must be a number >= 0, got -1")
    assert not out.exists()
