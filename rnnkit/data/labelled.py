"""Labelled examples from the user's files: texts, numeric sequences or audio files, one label
each.

``read_labelled`` reads one file of a sequence-classification data set in any of its layouts:

- a text table (CSV, TSV or JSONL) with a text column and a label column (``read_text_table``);
- a NumPy ``.npz`` of sequences ``x``, optional ``lengths`` and labels ``y``;
- a long-format table of numeric steps, grouped into sequences by a sequence column.

``read_labelled_audio`` reads a ``path,label`` table or a folder of audio files whose names give
the labels (``rnnkit.data.transcripts``); the files themselves are not opened.

The result, ``LabelledData``, keeps the raw examples (texts, ``NumericSequences``, or audio
paths), their labels as strings and a name for each (its row number, its sequence id, or its
audio path), so that predictions can be written next to the inputs they came from.
``label_order`` gives the class order a model uses, ``stratified_split`` holds out a share of
every class, and ``subset`` picks examples.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.data.numeric import NumericSequences, read_long_sequences, read_npz_sequences
from rnnkit.data.tables import read_table, require_columns
from rnnkit.data.transcripts import read_transcribed_audio
from rnnkit.errors import UserError


@dataclass
class LabelledData:
    """Raw examples of one file: texts, numeric sequences, audio paths or images, their labels,
    and row names.

    Exactly one of ``texts``, ``numeric``, ``audio`` and ``images`` is set; ``labels`` is None
    for a file read without labels (to predict on).
    """

    texts: list[str] | None
    numeric: NumericSequences | None
    labels: list[str] | None
    names: list[str]
    path: Path
    audio: list[Path] | None = None
    #: images read whole (``classify --images cnn``): ``uint8 (N, H, W, C)``
    images: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.names)


def read_labelled(
    path: Path,
    *,
    numeric: bool = False,
    text_column: str = "text",
    label_column: str | None = "label",
    sequence_column: str | None = None,
    time_column: str | None = None,
    feature_columns: Sequence[str] | None = None,
    encoding: str = "utf-8",
) -> LabelledData:
    """Read one data file: texts from a table, or (``numeric``) sequences from ``.npz`` or a
    long-format table with ``sequence_column``.

    ``label_column=None`` reads the inputs only (to predict on): a ``.npz`` then needs no ``y``,
    and a table needs no label column. ``feature_columns`` of a long-format table default to every
    other numeric column.
    """
    if not numeric:
        return read_text_table(path, text_column, label_column, encoding)
    if path.suffix.lower() == ".npz":
        sequences = read_npz_sequences(path, need_labels=label_column is not None)
    else:
        if sequence_column is None:
            raise UserError(
                f"{path} is a table but the run reads numeric sequences; give "
                "--sequence-column, or an .npz file."
            )
        sequences = read_long_sequences(
            path,
            sequence_column=sequence_column,
            time_column=time_column,
            label_column=label_column,
            feature_columns=None if feature_columns is None else list(feature_columns),
            encoding=encoding,
        )
    return LabelledData(None, sequences, sequences.labels, sequences.names, path)


def read_labelled_audio(
    source: Path,
    *,
    label_column: str | None = "label",
    path_column: str = "path",
    label_from_name: str | None = None,
    encoding: str = "utf-8",
) -> LabelledData:
    """Audio paths (and labels) of a table with ``path_column`` (paths relative to the table) or
    of a folder, whose file names give the labels through ``label_from_name``.

    ``label_column=None`` reads the paths only (prediction): a table then needs no label column
    and every audio file of a folder is read, whatever its name. Files are not opened here.
    """
    need_labels = label_column is not None
    if need_labels and label_from_name is None and source.is_dir():
        raise UserError(
            f"{source} is a folder, so its labels must come from the file names; pass "
            "--label-from-name REGEX (or give a path,label table)."
        )
    items = read_transcribed_audio(
        source,
        label_from_name=label_from_name if need_labels else None,
        path_column=path_column,
        text_column=label_column or "label",
        encoding=encoding,
        need_text=need_labels,
    )
    labels = None
    if need_labels:
        labels = [(item.text or "").strip() for item in items]
        empty = [i for i, label in enumerate(labels) if not label]
        if empty:
            raise UserError(
                f"{source}: {items[empty[0]].path} has an empty label; give every file a label "
                "or drop it."
            )
    paths = [item.path for item in items]
    return LabelledData(None, None, labels, [str(p) for p in paths], source, audio=paths)


def read_text_table(
    path: Path, text_column: str, label_column: str | None, encoding: str
) -> LabelledData:
    """Texts (and labels) of a table; rows with an empty text are skipped with a count on stderr.

    ``label_column=None`` reads texts only (prediction); a label column that is absent then is
    not an error, but a missing text column always is.
    """
    frame = read_table(path, encoding=encoding, as_text=True)
    require_columns(frame, [text_column] + ([label_column] if label_column else []), path)
    texts = frame[text_column].tolist()
    keep = [i for i, text in enumerate(texts) if text.strip()]
    if not keep:
        raise UserError(
            f"{path}: every cell of column {text_column!r} is empty; give the column that "
            "holds the texts with --text-column."
        )
    skipped = len(texts) - len(keep)
    if skipped:
        print(f"warning: {path}: skipped {skipped} rows with an empty text", file=sys.stderr)
    labels = None
    if label_column is not None:
        labels = [frame[label_column].iloc[i].strip() for i in keep]
        empty = [keep[j] for j, label in enumerate(labels) if not label]
        if empty:
            raise UserError(
                f"{path}: row {empty[0] + 1} has an empty {label_column!r}; give every row a "
                "label or drop the row."
            )
    return LabelledData([texts[i] for i in keep], None, labels, [str(i + 1) for i in keep], path)


def label_order(labels: Sequence[str]) -> list[str]:
    """The distinct labels, numerically ordered when they are all integers, else alphabetically."""
    distinct = set(labels)
    if all(re.fullmatch(r"[+-]?\d+", label) for label in distinct):
        return sorted(distinct, key=int)
    return sorted(distinct)


def stratified_split(
    labels: Sequence[str], fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """(training indices, validation indices): about ``fraction`` of each class held out, at
    least one example of every class with two or more, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(label, []).append(index)
    train, val = [], []
    for label in sorted(by_class):
        members = rng.permutation(by_class[label]).tolist()
        held = min(len(members) - 1, max(1, round(len(members) * fraction)))
        val.extend(members[:held])
        train.extend(members[held:])
    return sorted(train), sorted(val)


def subset(data: LabelledData, indices: Sequence[int]) -> LabelledData:
    """The examples at ``indices``, in that order."""
    numeric = None
    if data.numeric is not None:
        n = data.numeric
        numeric = NumericSequences(
            [n.sequences[i] for i in indices],
            None if n.labels is None else [n.labels[i] for i in indices],
            [n.names[i] for i in indices],
            n.feature_names,
        )
    return LabelledData(
        None if data.texts is None else [data.texts[i] for i in indices],
        numeric,
        None if data.labels is None else [data.labels[i] for i in indices],
        [data.names[i] for i in indices],
        data.path,
        None if data.audio is None else [data.audio[i] for i in indices],
        None if data.images is None else data.images[np.asarray(indices, dtype=np.int64)],
    )
