"""Reader for sentence pairs: one ``source<TAB>target`` per line, as in Tatoeba/Anki exports.

Columns after the second are ignored (those exports add attribution there); blank lines are
skipped. Every fault is reported in one sentence naming the file, the first offending line and how
many lines share the fault, so a user can fix a whole file in one go.
"""

from __future__ import annotations

from pathlib import Path

from rnnkit.data.readers import decode_bytes, read_bytes
from rnnkit.errors import UserError

Pair = tuple[str, str]


def read_pairs(path: str | Path, encoding: str = "utf-8") -> list[Pair]:
    """The ``(source, target)`` pairs of a tab-separated file, stripped of surrounding spaces.

    Raises ``UserError`` for a missing, empty or undecodable file, for lines without a tab, for
    an empty source or target, and for a file with no pairs at all.
    """
    path = Path(path)
    text = decode_bytes(read_bytes(path), path, encoding)
    pairs: list[Pair] = []
    no_tab: list[int] = []
    empty: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() and "\t" not in line:
            continue  # a blank line; a lone tab is an empty pair, reported below
        columns = line.split("\t")
        if len(columns) < 2:
            no_tab.append(number)
            continue
        source, target = columns[0].strip(), columns[1].strip()
        if not source or not target:
            empty.append(number)
            continue
        pairs.append((source, target))
    if no_tab:
        raise UserError(
            f"{path}: {_lines(no_tab)} no tab (first: line {no_tab[0]}); write each pair as "
            "source<TAB>target on one line."
        )
    if empty:
        raise UserError(
            f"{path}: {_lines(empty)} an empty source or target (first: line {empty[0]}); "
            "remove those lines or fill in both sides."
        )
    if not pairs:
        raise UserError(f"{path} has no sentence pairs; write one source<TAB>target per line.")
    return pairs


def _lines(numbers: list[int]) -> str:
    return "1 line has" if len(numbers) == 1 else f"{len(numbers)} lines have"
