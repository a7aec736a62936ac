"""Melodies as pitch/duration tokens: the skyline, the round trip, long notes, stray tokens."""

from __future__ import annotations

import numpy as np

from rnnkit.data.melody import MAX_DURATION, melody_text, melody_tokens, roll_from_tokens, skyline
from rnnkit.data.midi import KEYS


def monophonic(keys: list[int]) -> np.ndarray:
    roll = np.zeros((len(keys), KEYS), dtype=np.uint8)
    for t, key in enumerate(keys):
        if key >= 0:
            roll[t, key] = 1
    return roll


def test_skyline_takes_the_highest_key_of_each_frame():
    roll = monophonic([39, -1, 5])
    roll[0, 30] = roll[2, 60] = 1
    assert skyline(roll).tolist() == [39, -1, 60]


def test_tokens_round_trip_a_monophonic_roll():
    keys = [39, 39, 41, -1, -1, 43, 43, 43, 39]
    tokens = melody_tokens(monophonic(keys))
    assert tokens == ["p60", "d2", "p62", "d1", "rest", "d2", "p64", "d3", "p60", "d1"]
    assert np.array_equal(roll_from_tokens(tokens), monophonic(keys))


def test_a_long_note_is_several_pairs_that_read_back_as_one():
    keys = [-1, *[50] * (2 * MAX_DURATION + 3), -1]  # the silence around it is dropped
    tokens = melody_tokens(monophonic(keys))
    assert tokens == ["p71", f"d{MAX_DURATION}", "p71", f"d{MAX_DURATION}", "p71", "d3"]
    assert np.array_equal(roll_from_tokens(tokens), monophonic(keys[1:-1]))


def test_tokens_that_form_no_pair_are_skipped():
    tokens = ["d4", "p60", "p62", "d2", "p200", "d3", "rest", "x", "d1", "p61", "d1", "p64"]
    assert np.array_equal(roll_from_tokens(tokens), monophonic([41, 41, 40]))


def test_one_line_per_piece_without_silent_pieces():
    text = melody_text([monophonic([39]), monophonic([-1, -1]), monophonic([40, 40])])
    assert text == "p60 d1\np61 d2\n"
