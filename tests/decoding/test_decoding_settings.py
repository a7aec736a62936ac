"""Decoding settings: the output length limit against a hand computation, overrides, checks."""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.decoding import MAX_LENGTH_SLACK, DecodingSettings, decode_limits
from rnnkit.errors import UserError


def test_limits_are_the_ceiling_of_ratio_times_length_plus_slack_capped():
    lengths = torch.tensor([1, 5, 25, 40, 100])
    ratio, cap = 2.2, 80
    expected = [min(cap, math.ceil(ratio * n) + MAX_LENGTH_SLACK) for n in lengths.tolist()]
    # 2.2 * 25 is 55.00000000000001 in Python, so 56 tokens, as float64 tensors compute it too
    assert expected == [13, 21, 66, 80, 80]
    limits = decode_limits(lengths, ratio, cap)
    assert limits.dtype == torch.long and limits.tolist() == expected
    assert DecodingSettings(max_length_ratio=ratio).max_lengths(lengths, cap).tolist() == expected


def test_a_whole_ratio_adds_nothing_but_the_slack():
    limits = decode_limits(torch.tensor([3, 7]), 1.0, 1000)
    assert limits.tolist() == [3 + MAX_LENGTH_SLACK, 7 + MAX_LENGTH_SLACK]


def test_overridden_replaces_only_the_settings_given():
    stored = DecodingSettings(beam=5, length_penalty=1.0, max_length_ratio=1.5)
    changed = stored.overridden(beam=1, length_penalty=None, no_repeat_ngram=0, allow_unknown=None)
    assert changed == DecodingSettings(beam=1, length_penalty=1.0, max_length_ratio=1.5)
    assert stored.beam == 5  # the stored settings are left as they were
    assert stored.overridden() == stored


def test_the_unknown_token_is_forbidden_unless_allowed():
    assert DecodingSettings().forbidden_ids(unk_id=1) == (1,)
    assert DecodingSettings(allow_unknown=True).forbidden_ids(unk_id=1) == ()


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ({"beam": 0}, "--beam must be a whole number >= 1, got 0."),
        ({"beam": 2.5}, "--beam must be a whole number >= 1, got 2.5."),
        ({"max_length_ratio": 0.0}, "--max-length-ratio must be positive, got 0.0."),
        ({"max_length_ratio": float("nan")}, "--max-length-ratio must be positive"),
        ({"no_repeat_ngram": -1}, "--no-repeat-ngram must be a whole number >= 0 (0: off)"),
        ({"length_penalty": float("inf")}, "--length-penalty must be a number, got inf."),
    ],
)
def test_bad_settings_are_refused_naming_the_flag(given, fragment):
    with pytest.raises(UserError) as error:
        DecodingSettings().overridden(**given)
    assert fragment in str(error.value)
