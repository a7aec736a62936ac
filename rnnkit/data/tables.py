"""Tables from the user's files: CSV, TSV or JSON Lines, chosen by the file's extension.

``read_table`` reads a whole file into a ``pandas.DataFrame`` and explains any fault in one
sentence (missing, empty, not valid in the encoding, unparsable, or a delimiter that does not fit
the extension); ``require_columns`` checks that the columns a task needs are there and lists the
ones that exist when they are not. Tasks that read tables (classification, forecasting, anomaly
detection) share both, so their messages read alike.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from rnnkit.data.readers import decode_bytes, read_bytes
from rnnkit.errors import UserError

#: extension -> format; ``.txt`` reads as TSV (like the UCI sentiment files, ``text<TAB>label``)
TABLE_FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_SEPARATORS = {"csv": ",", "tsv": "\t"}
_SEPARATOR_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}


def table_format(path: str | Path) -> str:
    """``"csv"``, ``"tsv"`` or ``"jsonl"`` from the extension; ``UserError`` for any other."""
    suffix = Path(path).suffix.lower()
    if suffix not in TABLE_FORMATS:
        known = ", ".join(sorted(TABLE_FORMATS))
        raise UserError(
            f"{path} has extension {suffix or '(none)'!r}, which is not a table format rnnkit "
            f"reads; rename it to one of {known} to match its content."
        )
    return TABLE_FORMATS[suffix]


def read_table(
    path: str | Path,
    *,
    encoding: str = "utf-8",
    header: bool = True,
    as_text: bool = False,
) -> pd.DataFrame:
    """All rows of a CSV, TSV or JSONL file as a data frame.

    Args:
        path: the file; its extension picks the format (see ``TABLE_FORMATS``).
        encoding: text encoding of the file.
        header: whether a CSV/TSV file's first line names the columns; without one the columns
            are named ``"0"``, ``"1"``, ...
        as_text: keep every cell as a string (empty cells as ``""``) instead of letting pandas
            guess numbers and missing values; for text and label columns.

    Raises ``UserError`` naming the file for a missing, empty or undecodable file, a line that
    does not parse, or a CSV/TSV whose single column holds another delimiter.
    """
    path = Path(path)
    kind = table_format(path)
    text = decode_bytes(read_bytes(path), path, encoding)
    if not text.strip():
        raise UserError(f"{path} contains only whitespace; give a file with some rows in it.")
    if kind == "jsonl":
        frame = _read_jsonl(text, path)
    else:
        frame = _read_delimited(text, path, kind, header, as_text)
    frame.columns = [str(c) for c in frame.columns]
    if as_text:
        frame = frame.fillna("").astype(str)
    if frame.empty:
        raise UserError(f"{path} has a header but no rows; give a file with some data in it.")
    return frame


def require_columns(frame: pd.DataFrame, columns: Sequence[str], path: str | Path) -> None:
    """``UserError`` naming the first of ``columns`` missing from ``frame`` and those it has."""
    for column in columns:
        if column not in frame.columns:
            existing = ", ".join(repr(c) for c in frame.columns)
            raise UserError(
                f"{path} has no column {column!r}; its columns are {existing}, so pass the right "
                "name with the column option."
            )


def _read_delimited(text: str, path: Path, kind: str, header: bool, as_text: bool) -> pd.DataFrame:
    separator = _SEPARATORS[kind]
    _check_separator(text, path, kind, separator)
    try:
        return pd.read_csv(
            io.StringIO(text),
            sep=separator,
            header=0 if header else None,
            dtype=str if as_text else None,
            keep_default_na=not as_text,
            quoting=3 if kind == "tsv" else 0,  # TSV: quotes are ordinary characters
            skip_blank_lines=True,
        )
    except pd.errors.ParserError as error:
        raise UserError(
            f"{path} is not a well-formed {kind.upper()} file ({_first_line(error)}); "
            "check that every row has the same number of fields."
        ) from None
    except pd.errors.EmptyDataError:
        raise UserError(f"{path} has no rows; give a file with some data in it.") from None


def _check_separator(text: str, path: Path, kind: str, separator: str) -> None:
    """Refuse a file whose first line has none of the extension's delimiter but another one."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    if separator in first:
        return
    for other, name in _SEPARATOR_NAMES.items():
        if other != separator and first.count(other) >= 1:
            expected = _SEPARATOR_NAMES[separator]
            suggestion = ".tsv" if other == "\t" else ".csv" if other == "," else None
            fix = (
                f"rename it to {path.stem}{suggestion}"
                if suggestion
                else f"save it with {expected}s between fields"
            )
            raise UserError(
                f"{path} looks {name}-separated but its extension {path.suffix!r} means "
                f"{expected}-separated; {fix}."
            )


def _read_jsonl(text: str, path: Path) -> pd.DataFrame:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise UserError(
                f"{path} line {number} is not valid JSON ({error.msg}); write one JSON object "
                "per line."
            ) from None
        if not isinstance(row, dict):
            raise UserError(
                f"{path} line {number} is a JSON {type(row).__name__}, not an object; write one "
                'object per line, like {"text": "...", "label": "..."}.'
            )
        rows.append(row)
    return pd.DataFrame(rows)


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
