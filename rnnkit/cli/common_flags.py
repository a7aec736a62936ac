"""Flags that several ``rnnkit train <task>`` commands declare alike, defined once.

Each alias fixes a flag's type, help text and help panel; the command gives the default, taken
from its task's options dataclass::

    def train_lm(ctx: typer.Context, out: OutFlag = DEFAULTS.out, cell: CellFlag = DEFAULTS.cell):

A flag whose help says something task-specific (what ``--data`` holds, where ``--dropout``
applies, what a batch is made of, a default that differs) stays with its command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from rnnkit.layers import CELL_NAMES

DATA_PANEL = "Data"
MODEL_PANEL = "Model"


def flag_option(help_text: str, panel: str = DATA_PANEL) -> typer.models.OptionInfo:
    """A ``typer.Option`` with ``help_text``, shown in the ``--help`` panel ``panel``."""
    return typer.Option(help=help_text, rich_help_panel=panel)


# every task
OutFlag = Annotated[Path | None, flag_option("Run directory to write.")]
CellFlag = Annotated[str, flag_option(f"Recurrent cell: {', '.join(CELL_NAMES)}.", MODEL_PANEL)]

# the text tasks (lm, classify, tag, translate), which may read several files
EncodingFlag = Annotated[str, flag_option("Text encoding of the files.")]
TokenizerFlag = Annotated[Literal["char", "word", "bpe"], flag_option("Tokens to model.")]
VocabSizeFlag = Annotated[int | None, flag_option("word: words kept; bpe: vocabulary size.")]
MinCountFlag = Annotated[int | None, flag_option("word/bpe: fewest occurrences to keep or merge.")]
LowercaseFlag = Annotated[bool, flag_option("word: lowercase the texts.")]

# recurrent layers
LayersFlag = Annotated[int, flag_option("Stacked recurrent layers.", MODEL_PANEL)]
HiddenFlag = Annotated[int, flag_option("Hidden units per layer.", MODEL_PANEL)]
BidirectionalHiddenFlag = Annotated[int, flag_option("Hidden units per direction.", MODEL_PANEL)]

# the series tasks (forecast, detect), which read one table
SeriesDataFlag = Annotated[
    Path | None, flag_option("Table of the series: CSV, TSV, JSONL or Parquet.")
]
SeriesEncodingFlag = Annotated[str, flag_option("Text encoding of the file.")]
TargetFlag = Annotated[str, flag_option("Column(s) to model, comma separated.")]
TimeFlag = Annotated[str | None, flag_option("Column of timestamps (sorted; gaps are reported).")]
CovariatesFlag = Annotated[
    str | None, flag_option("Known-in-advance input columns, comma separated.")
]
CalendarFlag = Annotated[
    bool, flag_option("Add calendar features of the time column as covariates.")
]
FillFlag = Annotated[
    str | None, flag_option("Fill missing values: ffill or interpolate (default: refuse them).")
]
SeriesDropoutFlag = Annotated[float, flag_option("Dropout between recurrent layers.", MODEL_PANEL)]
WindowBatchFlag = Annotated[int, flag_option("Windows per batch.", MODEL_PANEL)]
