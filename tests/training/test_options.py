"""TrainOptions: durations, validation and dict round trips."""

from __future__ import annotations

import pytest

from rnnkit.errors import UserError
from rnnkit.training.options import TrainOptions, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("10m", 600),
        ("1h30m", 5400),
        ("2.5h", 9000),
        ("45", 45),
        ("1h 2m 3s", 3723),
        (30, 30),
        (1.5, 1.5),
    ],
)
def test_parse_duration_reads_hours_minutes_seconds(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "ten minutes", "10x", "m10", "-5m", "0s", "1h30", "nan"])
def test_parse_duration_refuses_bad_text_with_a_user_error(text):
    with pytest.raises(UserError, match="time limit"):
        parse_duration(text)


def test_time_limit_text_is_stored_as_seconds():
    assert TrainOptions(time_limit="2m").time_limit == 120.0


@pytest.mark.parametrize(
    ("changes", "flag"),
    [
        ({"optimizer": "rmsprop"}, "--optimizer"),
        ({"schedule": "linear"}, "--schedule"),
        ({"precision": "fp16"}, "--precision"),
        ({"device": "tpu"}, "--device"),
        ({"lr": 0.0}, "--lr"),
        ({"clip_norm": -1.0}, "--clip-norm"),
        ({"epochs": 0}, "--epochs"),
        ({"max_steps": 2.5}, "--max-steps"),
        ({"momentum": 1.0}, "--momentum"),
        ({"lr_decay": 0.0}, "--lr-decay"),
        ({"min_lr": 1.0}, "--min-lr"),
        ({"warmup_steps": -1}, "--warmup-steps"),
        ({"weight_average": "swa"}, "--weight-average"),
        ({"ema_decay": 1.0}, "--ema-decay"),
    ],
)
def test_validate_names_the_bad_option(changes, flag):
    with pytest.raises(UserError, match=flag):
        TrainOptions(**changes).validate()


def test_defaults_are_valid_and_weight_decay_follows_the_optimizer():
    assert TrainOptions().validate().effective_weight_decay() == 0.01  # adamw's custom
    assert TrainOptions(optimizer="sgd").effective_weight_decay() == 0.0
    assert TrainOptions(optimizer="adam", weight_decay=0.1).effective_weight_decay() == 0.1


def test_from_dict_ignores_task_fields_and_round_trips():
    options = TrainOptions(lr=0.5, epochs=3, time_limit="1m")
    values = {**options.to_dict(), "hidden": 512, "tokenizer": "char"}
    assert TrainOptions.from_dict(values) == options
