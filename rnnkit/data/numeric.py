"""Labelled sequences of feature vectors (sensor, audio-feature or signal data), and their scaler.

Two file layouts:

- a NumPy ``.npz`` with ``x`` ``(N, T, F)`` (or ``(N, T)`` for one feature), optional ``lengths``
  ``(N,)`` (steps past a length are padding), and optional ``y`` ``(N,)``;
- a long-format table (CSV, TSV or JSONL): one row per time step, a column naming the sequence,
  optionally a column to order the steps by, the feature columns, and a label column whose value
  is the same on every row of a sequence.

``FeatureScaler`` standardises each feature with the mean and standard deviation of the training
steps (padding excluded); ``to_dict``/``from_dict`` are its JSON form, the run's ``scaler.json``.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from rnnkit.data.readers import read_json_file
from rnnkit.data.tables import read_table, require_columns
from rnnkit.errors import UserError


@dataclass
class NumericSequences:
    """Sequences ``(T_i, F)`` as float32 tensors, their labels (strings, or None) and names."""

    sequences: list[Tensor]
    labels: list[str] | None
    names: list[str]
    feature_names: list[str]


def read_npz_sequences(path: str | Path, *, need_labels: bool) -> NumericSequences:
    """Read ``x``, optional ``lengths`` and ``y`` from a ``.npz`` file (never unpickling)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist; check the path.")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise UserError(
            f"{path} is not a readable NumPy .npz file ({error}); save it with numpy.savez."
        ) from None
    if "x" not in arrays:
        raise UserError(
            f"{path} has no array 'x'; its arrays are {sorted(arrays)}, so save the sequences "
            "as x with shape (N, T, F)."
        )
    x = arrays["x"]
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3 or x.shape[0] == 0 or x.shape[1] == 0:
        raise UserError(
            f"{path}: 'x' has shape {x.shape}; give sequences as (N, T, F) with N, T >= 1."
        )
    if not np.issubdtype(x.dtype, np.number):
        raise UserError(f"{path}: 'x' holds {x.dtype} values; save numbers (float32).")
    count, steps = x.shape[0], x.shape[1]
    lengths = arrays.get("lengths")
    if lengths is None:
        lengths = np.full(count, steps)
    elif lengths.shape != (count,) or lengths.min() < 1 or lengths.max() > steps:
        raise UserError(
            f"{path}: 'lengths' must hold {count} whole numbers in 1..{steps}, one per sequence."
        )
    labels = None
    if "y" in arrays:
        y = arrays["y"]
        if y.shape != (count,):
            raise UserError(
                f"{path}: 'y' has shape {y.shape}; give one label per sequence, ({count},)."
            )
        labels = [str(v) for v in y.tolist()]
    elif need_labels:
        raise UserError(f"{path} has no array 'y' of labels; save one label per sequence as y.")
    sequences = [
        torch.as_tensor(x[i, : int(lengths[i])], dtype=torch.float32) for i in range(count)
    ]
    _check_finite(sequences, path)
    names = [str(i) for i in range(count)]
    features = [f"x{j}" for j in range(x.shape[2])]
    return NumericSequences(sequences, labels, names, features)


def read_long_sequences(
    path: str | Path,
    *,
    sequence_column: str,
    time_column: str | None,
    label_column: str | None,
    feature_columns: list[str] | None,
    encoding: str = "utf-8",
) -> NumericSequences:
    """Group a long-format table's rows into one sequence per value of ``sequence_column``.

    Feature columns default to every numeric column other than the sequence, time and label
    columns. Sequences keep the order in which they first appear; steps are ordered by
    ``time_column`` when given, else by row order.
    """
    path = Path(path)
    frame = read_table(path, encoding=encoding)
    used = [sequence_column] + [c for c in (time_column, label_column) if c is not None]
    require_columns(frame, used + (feature_columns or []), path)
    if feature_columns is None:
        feature_columns = [
            c for c in frame.columns if c not in used and pd.api.types.is_numeric_dtype(frame[c])
        ]
        if not feature_columns:
            raise UserError(
                f"{path} has no numeric column besides {', '.join(repr(c) for c in used)}; "
                "give the feature columns with --feature-columns."
            )
    for column in feature_columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise UserError(
                f"{path}: feature column {column!r} holds text, not numbers; drop it from "
                "--feature-columns or fix its values."
            )
    sequences, labels, names = [], [], []
    for name, rows in frame.groupby(sequence_column, sort=False):
        if time_column is not None:
            rows = rows.sort_values(time_column, kind="stable")
        sequences.append(torch.tensor(rows[feature_columns].to_numpy(np.float32)))
        names.append(str(name))
        if label_column is not None:
            values = rows[label_column].astype(str).unique()
            if len(values) != 1:
                raise UserError(
                    f"{path}: sequence {name!r} has {len(values)} different labels "
                    f"({', '.join(values[:3])}); give every row of a sequence the same label."
                )
            labels.append(values[0])
    _check_finite(sequences, path)
    return NumericSequences(
        sequences, labels if label_column is not None else None, names, list(feature_columns)
    )


def _check_finite(sequences: list[Tensor], path: Path) -> None:
    for index, sequence in enumerate(sequences):
        if not bool(torch.isfinite(sequence).all()):
            raise UserError(
                f"{path}: sequence {index} holds a missing or infinite value; fill or drop it."
            )


class FeatureScaler:
    """Per-feature standardisation ``(x - mean) / std``, fitted on training sequences."""

    def __init__(self, mean: list[float], std: list[float]) -> None:
        if len(mean) != len(std):
            raise ValueError(
                f"mean and std must have one entry per feature, got {len(mean)}, {len(std)}"
            )
        self.mean = torch.tensor(mean, dtype=torch.float32)
        self.std = torch.tensor(std, dtype=torch.float32)

    @classmethod
    def fit(cls, sequences: list[Tensor]) -> FeatureScaler:
        """Mean and standard deviation over every step of every sequence; std 0 becomes 1."""
        steps = torch.cat(sequences).double()
        mean, std = steps.mean(dim=0), steps.std(dim=0, unbiased=False)
        std = torch.where(std > 0, std, torch.ones_like(std))
        return cls(mean.tolist(), std.tolist())

    @property
    def num_features(self) -> int:
        return self.mean.numel()

    def transform(self, sequence: Tensor) -> Tensor:
        """``(T, F) -> (T, F)`` standardised."""
        return (sequence - self.mean) / self.std

    def to_dict(self) -> dict[str, list[float]]:
        """The scaler as JSON-ready data: ``{"mean": [...], "std": [...]}``, one entry a feature."""
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureScaler:
        """The scaler ``to_dict`` describes; ``ValueError``, ``KeyError`` or ``TypeError`` if
        ``data`` is not one."""
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object, got {type(data).__name__}")
        return cls(data["mean"], data["std"])

    def save(self, path: str | Path) -> None:
        """Write ``to_dict()`` as JSON to ``path``."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> FeatureScaler:
        """Read a scaler written by ``save`` (a run's ``scaler.json``); ``UserError`` if bad."""
        return read_json_file(path, cls.from_dict, "feature scaler")
