"""What the series tasks (forecast and detect) share: options, the training table, the scaler.

Both tasks read one table of time series (``rnnkit.data.series``) with the same flags
(``SeriesOptions``), fit a ``SeriesScaler`` on the training rows and keep it as the run's
``scaler.json`` artifact, and later read new files exactly as the run was trained: the same
columns (``check_same_columns``), the same targets and covariates (``stored_columns``) and the
same calendar features (``stored_calendar``), all read back from the run's ``data`` section,
which ``columns_section`` writes.

A resumed run reads its training table with the stored calendar features and loads its scaler
(``training_scaler``): an artifact is fitted once, when the run starts, and never again.
"""

from __future__ import annotations

import sys
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pandas as pd

from rnnkit.data.series import (
    FILL_METHODS,
    SeriesColumns,
    SeriesScaler,
    SeriesTable,
    load_series,
    parse_names,
)
from rnnkit.data.windows import Spans, fit_scaler
from rnnkit.errors import UserError
from rnnkit.tasks.lifecycle import Run, Task
from rnnkit.tasks.options import TaskOptions, model_option, option
from rnnkit.tasks.search_space import (
    CELLS,
    TRAINING_SPACE,
    Choice,
    FloatRange,
    IntRange,
    SearchSpace,
)

SCALER_FILE = "scaler.json"

#: the entries of a series run's ``data`` section that reading a new file needs
_STORED_KEYS = (
    "file_columns",
    "targets",
    "time_column",
    "covariates",
    "covariate_names",
    "calendar",
)


@dataclass
class SeriesOptions(TaskOptions):
    """What forecasting and anomaly detection share: the table's columns and the model.

    The columns and the model's size fix what a resumed run must keep (``fixed``); ``fill`` only
    decides how missing values of a file are filled.
    """

    missing_data_message: ClassVar[str] = "no data file was given; pass --data FILE."

    data: Path | None = option(None, help="Table of the series: CSV, TSV, JSONL or Parquet.")
    encoding: str = option("utf-8", help="Text encoding of the file.")
    target: str = option("", help="Column(s) to model, comma separated.", fixed=True)
    time_column: str | None = option(
        None, help="Column of timestamps (sorted; gaps are reported).", fixed=True
    )
    covariates: str | None = option(
        None, help="Known-in-advance input columns, comma separated.", fixed=True
    )
    calendar: bool = option(
        False, help="Add calendar features of the time column as covariates.", fixed=True
    )
    fill: str | None = option(
        None, help="Fill missing values: ffill or interpolate (default: refuse them)."
    )
    hidden: int = model_option(64, help="Hidden units per layer.")
    layers: int = model_option(1, help="Stacked recurrent layers.")
    dropout: float = model_option(0.0, help="Dropout between recurrent layers.")
    # fixed: a resumed epoch continues at the batch where it stopped, which needs the same batches
    batch_size: int = model_option(64, help="Windows per batch.")
    # TrainOptions defaults that suit the small series models
    lr: float = 3e-3

    #: what ``rnnkit tune forecast`` and ``rnnkit tune detect`` search (rnnkit.tasks.search_space)
    search_space: ClassVar[SearchSpace] = {
        **TRAINING_SPACE,
        "cell": CELLS,
        "hidden": IntRange(16, 256, log=True),
        "layers": IntRange(1, 3),
        "dropout": FloatRange(0.0, 0.5),
        "batch_size": Choice((32, 64, 128)),
    }

    def validate(self) -> SeriesOptions:
        """Check every value; raise ``UserError`` naming the first bad option. Returns ``self``."""
        super().validate()
        if not parse_names(self.target):
            raise UserError("no target column was given; pass --target COL (or COL1,COL2).")
        if self.fill is not None and self.fill not in FILL_METHODS:
            raise UserError(f"--fill {self.fill!r} is not known; use {' or '.join(FILL_METHODS)}.")
        if self.calendar and self.time_column is None:
            raise UserError("--calendar derives features from the time column; pass --time-column.")
        self.require_whole_numbers("hidden", optional=True)
        self.require_whole_numbers("layers", "batch_size")
        self.require_rates("dropout")
        return self

    def columns(self, series_column: str | None = None, label: str | None = None) -> SeriesColumns:
        """What the columns of the training file mean, as these options say."""
        return SeriesColumns(
            targets=parse_names(self.target),
            time=self.time_column,
            covariates=parse_names(self.covariates),
            series=series_column,
            calendar=self.calendar,
            label=label,
        )


SeriesOptionsT = TypeVar("SeriesOptionsT", bound=SeriesOptions)


# ------------------------------------------------------------------------------------ training


def read_training_table(
    options: SeriesOptions, columns: SeriesColumns, resumed: Run | None = None
) -> SeriesTable:
    """The training file's series; gaps in its timestamps are reported on stderr.

    A resumed run's calendar features are the stored ones, so that the file's covariates are
    those the run's scaler and model were made for.
    """
    calendar = stored_calendar(resumed) if resumed is not None else None
    table = load_series(
        options.data, columns, fill=options.fill, encoding=options.encoding, calendar=calendar
    )
    for gap in table.gaps:
        print(f"warning: {gap}", file=sys.stderr)
    return table


class SeriesTask(Task[SeriesOptionsT]):
    """What the series tasks share: their one artifact, the scaler, and how they read the
    training table (each task says which columns it reads)."""

    artifact_files = (SCALER_FILE,)

    @abstractmethod
    def training_columns(self, options: SeriesOptionsT) -> SeriesColumns:
        """What the training file's columns mean for this task."""

    def training_table(self, options: SeriesOptionsT, resumed: Run | None) -> SeriesTable:
        """The training file's series, read as ``training_columns`` says."""
        return read_training_table(options, self.training_columns(options), resumed)


def training_scaler(table: SeriesTable, spans: Spans, resumed: Run | None) -> SeriesScaler:
    """The scaler of a run: fitted on the training spans, or the resumed run's, loaded."""
    if resumed is None:
        return fit_scaler(table, spans)
    scaler = load_scaler(resumed)
    expected = [*table.columns.targets, *table.covariate_names]
    if scaler.columns != expected:
        raise UserError(
            f"{resumed.file(SCALER_FILE)} scales the columns {scaler.columns} but the run reads "
            f"{expected}; the run is damaged, train it into a new --out."
        )
    return scaler


def columns_section(options: SeriesOptions, table: SeriesTable) -> dict[str, Any]:
    """The file and columns a series run was trained on, for its ``data`` section."""
    return {
        "file": str(options.data),
        "file_columns": table.file_columns,
        "targets": table.columns.targets,
        "time_column": table.columns.time,
        "covariates": table.columns.covariates,
        "covariate_names": table.covariate_names,
        "calendar": table.columns.calendar,
    }


# ------------------------------------------------------------------------------------ using a run


def load_scaler(run: Run) -> SeriesScaler:
    """The run's ``scaler.json``; ``UserError`` naming the file when it is missing or damaged."""
    return SeriesScaler.load(run.file(SCALER_FILE))


def stored_data(run: Run) -> dict[str, Any]:
    """The run's ``data`` section, checked to hold what reading a new file needs."""
    data = run.section("data")
    missing = [key for key in _STORED_KEYS if key not in data]
    if missing:
        raise UserError(
            f"{run.config_path} has no {missing[0]!r} in its 'data' section; train the run again."
        )
    return data


def stored_columns(run: Run, label: str | None = None) -> SeriesColumns:
    """The columns a run was trained on (``label``: also read this label column)."""
    data = stored_data(run)
    return SeriesColumns(
        targets=list(data["targets"]),
        time=data["time_column"],
        covariates=list(data["covariates"]),
        series=data.get("series_column"),
        calendar=bool(data["calendar"]),
        label=label,
    )


def stored_calendar(run: Run) -> list[str] | None:
    """The calendar feature names a run was trained with (None without --calendar)."""
    data = stored_data(run)
    if not data["calendar"]:
        return None
    return list(data["covariate_names"][len(data["covariates"]) :])


def check_same_columns(frame: pd.DataFrame, expected: list[str], path: Path) -> None:
    """``UserError`` unless the file has exactly the training file's columns."""
    missing = [c for c in expected if c not in frame.columns]
    extra = [c for c in frame.columns if c not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"lacks {', '.join(repr(c) for c in missing)}")
        if extra:
            parts.append(f"has {', '.join(repr(c) for c in extra)} in addition")
        raise UserError(
            f"{path} has other columns than the training data: it {' and '.join(parts)}; give a "
            f"history with the training columns {', '.join(repr(c) for c in expected)}."
        )
