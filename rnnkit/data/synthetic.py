"""Synthetic data sets that need no download, for examples and tests.

Date normalisation: a date written in one of many human formats ("22 November 2026",
"Nov 22, 26", "22/11/2026", "Sunday 22 Nov 2026", ...) paired with its ISO form "2026-11-22".
It is a small translation task that a character-level encoder–decoder with attention learns in a
few CPU minutes, and its attention matrix shows a readable alignment (the year attends to the
year, and so on).

Numeric formats are day-first or year-first only (never the ambiguous US month-first order), and
two-digit years mean 1950–2049, so every source has exactly one correct target.

Run ``python -m rnnkit.data.synthetic dates OUT_DIR`` to write ``train.tsv``, ``val.tsv`` and
``test.tsv`` with disjoint dates.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from collections.abc import Callable
from pathlib import Path

FIRST_DATE = dt.date(1950, 1, 1)
LAST_DATE = dt.date(2049, 12, 31)

MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _short(name: str) -> str:
    return name[:3]


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


# Each format writes a date one way; the year is the full year or its last two digits.
DATE_FORMATS: list[Callable[[dt.date], str]] = [
    lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",  # 22 November 2026
    lambda d: f"{d.day} {_short(MONTHS[d.month - 1])} {d.year}",  # 22 Nov 2026
    lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",  # November 22, 2026
    lambda d: f"{_short(MONTHS[d.month - 1])} {d.day}, {d.year % 100:02d}",  # Nov 22, 26
    lambda d: f"{_short(MONTHS[d.month - 1])} {d.day} {d.year}",  # Nov 22 2026
    lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}",  # 22/11/2026
    lambda d: f"{d.day}/{d.month}/{d.year % 100:02d}",  # 22/11/26
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",  # 22.11.2026
    lambda d: f"{d.day}-{_short(MONTHS[d.month - 1])}-{d.year % 100:02d}",  # 22-Nov-26
    lambda d: f"{d.year}/{d.month:02d}/{d.day:02d}",  # 2026/11/22
    lambda d: f"the {_ordinal(d.day)} of {MONTHS[d.month - 1]} {d.year}",  # the 22nd of November
    lambda d: f"{WEEKDAYS[d.weekday()]}, {d.day} {MONTHS[d.month - 1]} {d.year}",  # Sunday, 22 ...
    lambda d: f"{_short(WEEKDAYS[d.weekday()])} {d.day} {_short(MONTHS[d.month - 1])} {d.year}",
    lambda d: f"{d.day} {MONTHS[d.month - 1].upper()} {d.year}",  # 22 NOVEMBER 2026
    lambda d: f"{d.day} {MONTHS[d.month - 1].lower()} {d.year % 100:02d}",  # 22 november 26
]


def format_date(date: dt.date, rng: random.Random) -> str:
    """``date`` written in a format drawn from ``DATE_FORMATS`` with ``rng``."""
    return rng.choice(DATE_FORMATS)(date)


def date_pairs(
    count: int, seed: int = 0, exclude: set[dt.date] | None = None
) -> list[tuple[str, str]]:
    """``count`` pairs ``(human date, ISO date)`` of distinct dates in 1950–2049.

    Dates in ``exclude`` are never drawn (to hold dates out of training). Same seed, same pairs.
    """
    span = (LAST_DATE - FIRST_DATE).days + 1
    available = span - len(exclude or ())
    if not 0 <= count <= available:
        raise ValueError(f"count must be in 0..{available} (distinct dates left), got {count}")
    rng = random.Random(seed)
    taken = set(exclude or ())
    pairs = []
    while len(pairs) < count:
        date = FIRST_DATE + dt.timedelta(days=rng.randrange(span))
        if date in taken:
            continue
        taken.add(date)
        pairs.append((format_date(date, rng), date.isoformat()))
    return pairs


def write_pairs_tsv(pairs: list[tuple[str, str]], path: str | Path) -> Path:
    """Write ``source<TAB>target`` lines (UTF-8) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    return path


def write_date_splits(
    directory: str | Path, train: int = 20000, val: int = 1000, test: int = 1000, seed: int = 0
) -> dict[str, Path]:
    """Write ``train.tsv``, ``val.tsv`` and ``test.tsv`` of date pairs; no date is in two splits."""
    directory = Path(directory)
    splits: dict[str, Path] = {}
    used: set[dt.date] = set()
    for offset, (name, count) in enumerate([("train", train), ("val", val), ("test", test)]):
        pairs = date_pairs(count, seed=seed * 3 + offset, exclude=used)
        used.update(dt.date.fromisoformat(target) for _, target in pairs)
        splits[name] = write_pairs_tsv(pairs, directory / f"{name}.tsv")
    return splits


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m rnnkit.data.synthetic", description="Write a synthetic data set."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    dates = commands.add_parser("dates", help="date normalisation pairs: train/val/test.tsv")
    dates.add_argument("directory", type=Path)
    dates.add_argument("--train", type=int, default=20000)
    dates.add_argument("--val", type=int, default=1000)
    dates.add_argument("--test", type=int, default=1000)
    dates.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    paths = write_date_splits(args.directory, args.train, args.val, args.test, args.seed)
    for name, path in paths.items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
