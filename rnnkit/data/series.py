"""Time series from the user's tables: reading, checking, calendar features, scaling, windows.

``load_series`` reads a CSV/TSV/JSONL file (Parquet when pyarrow is installed) and returns one
``Series`` per value of the series column (or one in all), each a ``(T, n)`` array of targets and a
``(T, C)`` array of covariates (the user's known-in-advance columns, then calendar features derived
from the time column). Every fault is a ``UserError`` of one sentence: a missing column (listing
the columns), a non-numeric value (naming its row), missing values (counted, unless ``fill`` says
how to fill them), unsorted or duplicate timestamps. Gaps in the timestamps are not errors; they are
counted in ``SeriesTable.gaps`` so the caller can report them.

Rows are numbered as data rows from 1 (the header is not a row), so row ``r`` is line ``r + 1``.

The rest is arithmetic on arrays, kept here so it can be tested against hand-built examples:

- ``split_points``: chronological train/validation/test boundaries (never shuffled across time);
- ``window_starts``: where windows of ``lookback`` inputs and ``horizon`` targets begin, with every
  target inside one span (inputs may reach back into the previous span, as context);
- ``SeriesScaler``: per-series, per-column standardisation fitted on training rows only, saved as
  JSON.

The model inputs cut from a table (spans, the fitted scaler, windows as tensors) are built in
``rnnkit.data.windows``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnnkit.data.readers import read_json_file
from rnnkit.data.tables import read_table, require_columns
from rnnkit.errors import UserError

FILL_METHODS = ("ffill", "interpolate")
#: the name of the only series when no series column is given
SINGLE_SERIES = ""


@dataclass
class SeriesColumns:
    """Which columns of a table mean what."""

    targets: list[str]
    time: str | None = None
    covariates: list[str] = field(default_factory=list)
    series: str | None = None
    calendar: bool = False
    label: str | None = None  # anomaly labels (0/1), read as a target-like numeric column

    def numeric(self) -> list[str]:
        """The columns that must hold numbers."""
        return [*self.targets, *self.covariates]

    def used(self) -> list[str]:
        """Every column this description reads."""
        extra = [c for c in (self.time, self.series, self.label) if c is not None]
        return [*self.numeric(), *extra]


@dataclass
class Series:
    """One series: targets ``(T, n)``, covariates ``(T, C)``, optional timestamps and labels."""

    name: str
    values: np.ndarray  # (T, n) float64
    covariates: np.ndarray  # (T, C) float64: user covariates, then calendar features
    times: pd.DatetimeIndex | None = None
    labels: np.ndarray | None = None  # (T,) 0/1
    first_row: int = 1  # data row (from 1) of this series' first value in the file
    # rows after the last target value whose covariates are given (forecast histories only)
    future_covariates: np.ndarray | None = None  # (S, C)

    def __len__(self) -> int:
        return len(self.values)


@dataclass
class SeriesTable:
    """All series of a file and what was learnt about them while reading."""

    series: list[Series]
    columns: SeriesColumns
    file_columns: list[str]
    covariate_names: list[str]  # user covariates, then calendar feature names
    frequency: str | None = None  # pandas offset alias of the time step, e.g. "h", "MS"
    gaps: list[str] = field(default_factory=list)  # one sentence per series with missing steps


# ----------------------------------------------------------------------------- reading


def read_frame(path: str | Path, encoding: str = "utf-8") -> pd.DataFrame:
    """The file as a data frame: Parquet by its extension (needs pyarrow), else CSV/TSV/JSONL."""
    path = Path(path)
    if path.suffix.lower() != ".parquet":
        return read_table(path, encoding=encoding)
    if not path.is_file():
        raise UserError(f"{path} does not exist; check the path.")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise UserError(
            f"{path} is a Parquet file and reading it needs pyarrow; install pyarrow or save "
            "the table as CSV."
        ) from None
    try:
        frame = pd.read_parquet(path)
    except Exception as error:  # pyarrow raises many types for a damaged file
        raise UserError(f"{path} is not a readable Parquet file ({error}); check it.") from None
    frame.columns = [str(c) for c in frame.columns]
    if frame.empty:
        raise UserError(f"{path} has no rows; give a file with some data in it.")
    return frame


def load_series(
    path: str | Path,
    columns: SeriesColumns,
    *,
    fill: str | None = None,
    encoding: str = "utf-8",
    future_rows: bool = False,
    frame: pd.DataFrame | None = None,
    calendar: Sequence[str] | None = None,
) -> SeriesTable:
    """Read and check the series of ``path`` as ``columns`` describe.

    Args:
        fill: ``None`` refuses missing values; ``"ffill"`` carries the last value forward (and
            the first one back); ``"interpolate"`` draws straight lines between known values.
        future_rows: allow trailing rows whose targets are all empty; their covariates become
            ``Series.future_covariates`` (known-in-advance inputs of a forecast).
        frame: the table already read (``path`` then only names it in messages).
        calendar: the calendar feature names to compute (a run's, so that new files get the
            same features as training); None chooses them from the time step.
    """
    path = Path(path)
    if fill is not None and fill not in FILL_METHODS:
        raise UserError(f"--fill {fill!r} is not known; use {' or '.join(FILL_METHODS)}.")
    if frame is None:
        frame = read_frame(path, encoding)
    require_columns(frame, columns.used(), path)
    numeric = {name: _numeric_column(frame, name, path) for name in columns.numeric()}
    if columns.label is not None:
        numeric[columns.label] = _numeric_column(frame, columns.label, path)
    groups = _group_rows(frame, columns.series)
    table = SeriesTable(
        series=[],
        columns=columns,
        file_columns=list(frame.columns),
        covariate_names=[*columns.covariates, *(calendar or [])],
    )
    for name, rows in groups:
        table.series.append(
            _build_series(name, rows, frame, numeric, columns, path, fill, future_rows, table)
        )
    return table


def _numeric_column(frame: pd.DataFrame, name: str, path: Path) -> np.ndarray:
    """The column as float64; ``UserError`` naming the first cell that is not a number."""
    raw = frame[name]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna().to_numpy() & raw.notna().to_numpy()
    if isinstance(raw.dtype, pd.StringDtype) or raw.dtype == object:
        bad &= raw.astype(str).str.strip().ne("").to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise UserError(
            f"{path} column {name!r} has a non-numeric value {raw.iloc[row]!r} in row {row + 1} "
            f"(line {row + 2}); make every value of the column a number."
        )
    return values.to_numpy(dtype=np.float64)


def _group_rows(frame: pd.DataFrame, series_column: str | None) -> list[tuple[str, np.ndarray]]:
    """(series name, row indices) in order of first appearance; one group without a column."""
    if series_column is None:
        return [(SINGLE_SERIES, np.arange(len(frame)))]
    keys = frame[series_column].astype(str).to_numpy()
    names = list(dict.fromkeys(keys))
    return [(name, np.flatnonzero(keys == name)) for name in names]


def _build_series(
    name: str,
    rows: np.ndarray,
    frame: pd.DataFrame,
    numeric: dict[str, np.ndarray],
    columns: SeriesColumns,
    path: Path,
    fill: str | None,
    future_rows: bool,
    table: SeriesTable,
) -> Series:
    where = f"{path}" if name == SINGLE_SERIES else f"series {name!r} of {path}"
    values = np.stack([numeric[c][rows] for c in columns.targets], axis=1)
    user_covariates = np.zeros((len(rows), len(columns.covariates)))
    for k, column in enumerate(columns.covariates):
        user_covariates[:, k] = numeric[column][rows]
    known = len(rows)
    if future_rows:
        observed = np.flatnonzero(~np.isnan(values).all(axis=1))
        known = int(observed[-1]) + 1 if len(observed) else 0
    if known == 0:
        raise UserError(f"{where} has no target values; give rows with numbers in them.")

    times = None
    if columns.time is not None:
        times = parse_times(frame[columns.time].iloc[rows], columns.time, where, rows)
        check_time_order(times, columns.time, where, rows)
        frequency = infer_frequency(times[:known])
        if table.frequency is None:
            table.frequency = frequency
        gap = describe_gaps(times[:known], frequency)
        if gap:
            table.gaps.append(f"{where}: {gap}")

    values = fill_missing(values[:known], columns.targets, where, rows, fill)
    covariate_values = fill_missing(user_covariates, columns.covariates, where, rows, fill)
    if columns.calendar:
        if times is None:
            raise UserError("--calendar derives features from the time column; pass --time-column.")
        if len(table.covariate_names) == len(columns.covariates):
            table.covariate_names.extend(calendar_names(times[:known]))
        calendar = calendar_values(times, table.covariate_names[len(columns.covariates) :])
        covariate_values = np.concatenate([covariate_values, calendar], axis=1)
    labels = None
    if columns.label is not None:
        labels = fill_missing(
            numeric[columns.label][rows][:known, None], [columns.label], where, rows, None
        )[:, 0]
    return Series(
        name=name,
        values=values,
        covariates=covariate_values[:known],
        times=times[:known] if times is not None else None,
        labels=labels,
        first_row=int(rows[0]) + 1,
        future_covariates=covariate_values[known:] if future_rows else None,
    )


def fill_missing(
    values: np.ndarray,
    names: Sequence[str],
    where: str,
    rows: np.ndarray,
    fill: str | None,
) -> np.ndarray:
    """``values (T, k)`` with NaNs filled as ``fill`` says, or ``UserError`` counting them."""
    missing = np.isnan(values)
    if not missing.any():
        return values
    if fill is None:
        column = int(np.flatnonzero(missing.any(axis=0))[0])
        first = int(rows[np.flatnonzero(missing[:, column])[0]]) + 1
        raise UserError(
            f"{where} has {int(missing.sum())} missing values (the first in column "
            f"{names[column]!r}, row {first}); fill them in the file or pass --fill ffill or "
            "--fill interpolate."
        )
    frame = pd.DataFrame(values)
    if fill == "interpolate":
        frame = frame.interpolate(method="linear", limit_direction="both")
    frame = frame.ffill().bfill()
    if frame.isna().any().any():
        empty = names[int(np.flatnonzero(frame.isna().all().to_numpy())[0])]
        raise UserError(f"{where} column {empty!r} has no values at all; give some numbers.")
    return frame.to_numpy(dtype=np.float64)


# ----------------------------------------------------------------------------- time


def parse_times(raw: pd.Series, column: str, where: str, rows: np.ndarray) -> pd.DatetimeIndex:
    """The column parsed as timestamps; ``UserError`` naming the first one that is not a date."""
    text = raw.astype(str)
    parsed = pd.to_datetime(text, errors="coerce", format="mixed")
    bad = parsed.isna().to_numpy()
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise UserError(
            f"{where} time column {column!r} has {raw.iloc[index]!r} in row {rows[index] + 1}, "
            "which is not a date; write dates like 2024-01-31 or 2024-01-31 13:00."
        )
    return pd.DatetimeIndex(parsed)


def check_time_order(times: pd.DatetimeIndex, column: str, where: str, rows: np.ndarray) -> None:
    """``UserError`` at the first timestamp that repeats or goes back in time."""
    steps = np.diff(times.asi8)
    if (steps > 0).all():
        return
    index = int(np.flatnonzero(steps <= 0)[0]) + 1
    kind = "repeats" if steps[index - 1] == 0 else "comes before"
    raise UserError(
        f"{where} time column {column!r} is not strictly increasing: row {rows[index] + 1} "
        f"({times[index]}) {kind} the row above; sort the rows by time and remove duplicates."
    )


def infer_frequency(times: pd.DatetimeIndex) -> str | None:
    """The series' time step as a pandas offset alias (``"h"``, ``"D"``, ``"MS"``, ``"15min"``).

    pandas' own inference when the index is regular (it knows months and quarters); otherwise the
    most common difference between neighbours, so a few gaps do not hide the step.
    """
    if len(times) < 2:
        return None
    if len(times) >= 3:
        with warnings.catch_warnings():  # pandas 3 announces an offset instead of a string
            warnings.simplefilter("ignore")
            inferred = pd.infer_freq(times)
        if inferred is not None:
            return getattr(inferred, "freqstr", inferred)
    step = pd.Series(times).diff().mode().iloc[0]
    return pd.tseries.frequencies.to_offset(step).freqstr


def describe_gaps(times: pd.DatetimeIndex, frequency: str | None) -> str | None:
    """A sentence counting the timestamps missing at ``frequency``, or None when there are none."""
    if frequency is None or len(times) < 2:
        return None
    expected = pd.date_range(times[0], times[-1], freq=frequency)
    missing = expected.difference(times)
    if len(missing) == 0:
        return None
    return (
        f"{len(missing)} timestamps are missing at the step {frequency!r} (the first is "
        f"{missing[0]}); the series is treated as if its rows were evenly spaced."
    )


def future_times(times: pd.DatetimeIndex, frequency: str | None, steps: int) -> pd.DatetimeIndex:
    """The ``steps`` timestamps after the last of ``times``, at ``frequency``."""
    if frequency is None:
        raise ValueError("future_times needs a frequency; the series has fewer than two times")
    return pd.date_range(times[-1], periods=steps + 1, freq=frequency)[1:]


#: calendar cycles: name -> (position in the cycle from timestamps, cycle length)
_CYCLES = {
    "hour": (lambda t: t.hour.to_numpy() + t.minute.to_numpy() / 60.0, 24.0),
    "weekday": (lambda t: t.day_of_week.to_numpy().astype(float), 7.0),
    "yearday": (lambda t: t.day_of_year.to_numpy() - 1.0, 365.25),
    "month": (lambda t: t.month.to_numpy() - 1.0, 12.0),
}


def calendar_names(times: pd.DatetimeIndex) -> list[str]:
    """Names of the calendar features suited to the series' step (see ``calendar_features``)."""
    step = pd.Series(times).diff().median() if len(times) > 1 else None
    cycles = []
    if step is not None and step < pd.Timedelta(days=1):
        cycles.append("hour")
    if step is None or step < pd.Timedelta(days=7):
        cycles.append("weekday")
    cycles.append("yearday" if step is None or step < pd.Timedelta(days=28) else "month")
    return [f"{cycle}_{part}" for cycle in cycles for part in ("sin", "cos")]


def calendar_values(times: pd.DatetimeIndex, names: Sequence[str]) -> np.ndarray:
    """The named calendar features (``"hour_sin"``, ...) of ``times``: ``(T, C)``."""
    columns = []
    for name in names:
        cycle, part = name.rsplit("_", 1)
        position, period = _CYCLES[cycle]
        angle = 2 * np.pi * position(times) / period
        columns.append(np.sin(angle) if part == "sin" else np.cos(angle))
    return np.stack(columns, axis=1).reshape(len(times), len(names))


def calendar_features(times: pd.DatetimeIndex) -> tuple[list[str], np.ndarray]:
    """Cyclic calendar covariates suited to the series' step: names and ``(T, C)`` values.

    Each cycle becomes a (sin, cos) pair so that its end meets its start: hour of day and day of
    week for steps under a day, day of week and day of year for steps under four weeks (day of week
    only for steps under a week), month of year for longer steps.
    """
    names = calendar_names(times)
    return names, calendar_values(times, names)


# ----------------------------------------------------------------------------- splits, windows


def parse_split(text: str) -> tuple[float, float, float]:
    """``"0.7,0.1,0.2"`` (fractions) or ``"8640,2880,2880"`` (row counts) -> three numbers."""
    try:
        parts = tuple(float(p) for p in str(text).split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or any(p < 0 for p in parts) or parts[0] <= 0:
        raise UserError(
            f"--split {text!r} is not three numbers; give train,validation,test fractions like "
            "0.7,0.1,0.2 or row counts like 8640,2880,2880."
        )
    if all(p <= 1 for p in parts) and sum(parts) > 1 + 1e-9:
        raise UserError(f"--split {text!r}: the fractions add up to more than 1; make them <= 1.")
    if any(p > 1 for p in parts) and not all(float(p).is_integer() for p in parts):
        raise UserError(f"--split {text!r} mixes counts and fractions; give three of one kind.")
    return parts  # type: ignore[return-value]


def split_points(length: int, split: Sequence[float]) -> tuple[int, int, int]:
    """Ends of the train, validation and test spans of a series of ``length`` rows.

    Fractions (all ``<= 1``) take ``round(fraction * length)`` rows each; counts take that many
    rows, and rows after the three spans are unused (as in the ETT benchmark's split).
    """
    train, val, test = split
    if all(p <= 1 for p in split):
        train_end = round(train * length)
        val_end = train_end + round(val * length)
        test_end = min(length, val_end + round(test * length))
    else:
        train_end, val_end, test_end = int(train), int(train + val), int(train + val + test)
        if test_end > length:
            raise UserError(
                f"--split {int(train)},{int(val)},{int(test)} needs {test_end} rows but the series "
                f"has {length}; give smaller counts or fractions."
            )
    return train_end, val_end, test_end


def window_starts(
    span_start: int, span_end: int, lookback: int, horizon: int, stride: int = 1
) -> np.ndarray:
    """First rows of the windows whose ``horizon`` targets lie in ``[span_start, span_end)``.

    A window starting at ``s`` reads inputs ``s .. s + lookback - 1`` and targets
    ``s + lookback .. s + lookback + horizon - 1``; its inputs may lie before ``span_start``
    (context from the previous span) but never before row 0.
    """
    first = max(0, span_start - lookback)
    last = span_end - lookback - horizon
    if last < first:
        return np.zeros(0, dtype=np.int64)
    return np.arange(first, last + 1, stride, dtype=np.int64)


def gather_windows(array: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """``array (T, F)`` cut into ``(N, length, F)`` windows beginning at ``starts``."""
    if len(starts) == 0:
        return np.zeros((0, length, array.shape[1]), dtype=array.dtype)
    offsets = starts[:, None] + np.arange(length)[None, :]
    return array[offsets]


# ----------------------------------------------------------------------------- scaling


@dataclass
class SeriesScaler:
    """Per-series standardisation of every column: ``(x - mean) / std``.

    Fitted on training rows only, so no statistic of the validation or test span leaks into the
    model. A column that is constant in training keeps ``std = 1``.
    """

    columns: list[str]
    mean: dict[str, list[float]] = field(default_factory=dict)
    std: dict[str, list[float]] = field(default_factory=dict)

    def fit(self, name: str, values: np.ndarray) -> SeriesScaler:
        """Learn the mean and spread of ``values (T, F)`` for the series ``name``."""
        if values.ndim != 2 or values.shape[1] != len(self.columns):
            raise ValueError(f"expected values (T, {len(self.columns)}), got {values.shape}")
        if len(values) == 0:
            raise ValueError(f"cannot fit a scaler for series {name!r} on zero rows")
        std = values.std(axis=0)
        self.mean[name] = values.mean(axis=0).tolist()
        self.std[name] = np.where(std > 1e-8 * (1 + np.abs(values).max(axis=0)), std, 1.0).tolist()
        return self

    def _stats(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in self.mean:
            known = ", ".join(repr(n) for n in self.mean)
            raise UserError(
                f"series {name!r} was not in the training data (it had {known}); give only the "
                "series the run was trained on."
            )
        return np.asarray(self.mean[name]), np.asarray(self.std[name])

    def transform(self, name: str, values: np.ndarray, columns: slice = slice(None)) -> np.ndarray:
        """Standardise ``values (..., F')`` of series ``name``; ``columns`` picks their columns."""
        mean, std = self._stats(name)
        return (values - mean[columns]) / std[columns]

    def inverse(self, name: str, values: np.ndarray, columns: slice = slice(None)) -> np.ndarray:
        """Undo ``transform``: back to the file's units."""
        mean, std = self._stats(name)
        return values * std[columns] + mean[columns]

    def to_dict(self) -> dict[str, Any]:
        """The scaler as JSON-ready lists: ``columns``, and ``mean``/``std`` by series name."""
        return {"columns": self.columns, "mean": self.mean, "std": self.std}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SeriesScaler:
        """The scaler ``to_dict`` described (``KeyError``/``TypeError`` for another dict)."""
        return cls(columns=list(values["columns"]), mean=values["mean"], std=values["std"])

    def save(self, path: str | Path) -> None:
        """Write ``to_dict()`` as JSON, as a run directory's ``scaler.json`` holds it."""
        text = json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n"
        Path(path).write_text(text, encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> SeriesScaler:
        """Read a scaler written by ``save`` (a run's ``scaler.json``); ``UserError`` if bad."""
        return read_json_file(path, cls.from_dict, "series scaler")


def require_length(table: SeriesTable, needed: int, reason: str, path: str | Path) -> None:
    """``UserError`` for the first series shorter than ``needed`` rows, saying why it must be."""
    for series in table.series:
        if len(series) < needed:
            where = path if series.name == SINGLE_SERIES else f"series {series.name!r} of {path}"
            raise UserError(
                f"{where} has {len(series)} rows but {reason} needs at least {needed}; give a "
                "longer series or smaller windows."
            )


def parse_names(text: str | Sequence[str] | None) -> list[str]:
    """``"a,b"`` or ``["a", "b"]`` -> ``["a", "b"]``; None or empty -> ``[]``."""
    if text is None:
        return []
    parts = text.split(",") if isinstance(text, str) else list(text)
    return [p.strip() for p in parts if p.strip()]
