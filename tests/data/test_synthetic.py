"""The date-normalisation data set: every source means exactly its ISO target."""

from __future__ import annotations

import datetime as dt
import re

from rnnkit.data.pairs import read_pairs
from rnnkit.data.synthetic import DATE_FORMATS, MONTHS, date_pairs, write_date_splits

MONTH_NUMBERS = {name.lower(): i + 1 for i, name in enumerate(MONTHS)}
MONTH_NUMBERS.update({name[:3].lower(): i + 1 for i, name in enumerate(MONTHS)})


def parse(text: str) -> dt.date:
    """An independent reading of a human date: find day, month and year among its parts."""
    words = re.findall(r"[A-Za-z]+|\d+", text)
    numbers = [w for w in words if w.isdigit()]
    names = [MONTH_NUMBERS[w.lower()] for w in words if w.lower() in MONTH_NUMBERS]
    if names:
        month = names[0]
        day, year = int(numbers[0]), numbers[1]
    elif len(numbers[0]) == 4:  # year first
        year, month, day = numbers[0], int(numbers[1]), int(numbers[2])
    else:  # day first
        day, month, year = int(numbers[0]), int(numbers[1]), numbers[2]
    full_year = int(year) if len(year) == 4 else (1900 if int(year) >= 50 else 2000) + int(year)
    return dt.date(full_year, month, day)


def test_every_source_parses_to_its_target():
    pairs = date_pairs(3000, seed=1)
    assert len({target for _, target in pairs}) == 3000  # distinct dates
    for source, target in pairs:
        assert parse(source).isoformat() == target, source


def test_all_formats_occur_and_seed_fixes_the_pairs():
    pairs = date_pairs(2000, seed=2)
    shapes = {re.sub(r"\d", "9", s) for s, _ in pairs}
    assert len(shapes) > len(DATE_FORMATS)
    assert date_pairs(50, seed=7) == date_pairs(50, seed=7)
    assert date_pairs(50, seed=7) != date_pairs(50, seed=8)


def test_splits_hold_disjoint_dates(tmp_path):
    paths = write_date_splits(tmp_path, train=500, val=100, test=100, seed=0)
    targets = {name: {t for _, t in read_pairs(path)} for name, path in paths.items()}
    assert [len(targets[n]) for n in ("train", "val", "test")] == [500, 100, 100]
    assert not targets["train"] & targets["val"]
    assert not targets["train"] & targets["test"]
    assert not targets["val"] & targets["test"]
