"""Windows of a series table for the models: spans in time, the scaler, and model inputs.

Notation: ``n`` targets, ``C`` covariates, ``L`` lookback rows, ``H`` horizon rows.

- ``Spans``: where each series' train, validation and test spans end (``--split``);
- ``fit_scaler``: a ``SeriesScaler`` of every target and covariate, fitted per series on its
  training span only, so no statistic of later rows leaks into the model;
- ``make_windows``: every window of ``L`` history rows and ``H`` target rows whose targets lie in
  one span (its history may reach back into the span before, as context), scaled, as tensors.

The arithmetic of where windows start lives in ``rnnkit.data.series`` (``window_starts``,
``gather_windows``, ``split_points``) and is tested there against hand-built examples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.series import (
    Series,
    SeriesScaler,
    SeriesTable,
    gather_windows,
    parse_split,
    split_points,
    window_starts,
)

#: span numbers of ``make_windows``
TRAIN, VALIDATION, TEST = 0, 1, 2


@dataclass
class Spans:
    """The ends of each series' train, validation and test spans, by series name.

    Span ``k`` of a series runs from the end of span ``k - 1`` (row 0 for the training span) to
    ``ends[name][k]``; rows after the test span are unused.
    """

    ends: dict[str, tuple[int, int, int]]

    @classmethod
    def of(cls, table: SeriesTable, split: str) -> Spans:
        """The spans ``--split`` (fractions or row counts) gives each series of ``table``."""
        parts = parse_split(split)
        return cls({s.name: split_points(len(s), parts) for s in table.series})

    def train_end(self, name: str) -> int:
        """The first row after the training span of series ``name``."""
        return self.ends[name][TRAIN]

    def through_validation(self) -> Spans:
        """These spans with each validation span joined to the training span before it: the
        training span's windows are then every window whose targets precede the test span."""
        return Spans({name: (end, end, test_end) for name, (_, end, test_end) in self.ends.items()})


def joined(series: Series) -> np.ndarray:
    """Targets then covariates of a series: ``(T, n + C)``, the columns a scaler scales."""
    return np.concatenate([series.values, series.covariates], axis=1)


def fit_scaler(table: SeriesTable, spans: Spans) -> SeriesScaler:
    """A scaler of every target and covariate column, per series, on its training rows only."""
    scaler = SeriesScaler(columns=[*table.columns.targets, *table.covariate_names])
    for series in table.series:
        scaler.fit(series.name, joined(series)[: spans.train_end(series.name)])
    return scaler


@dataclass
class Windows:
    """Scaled model inputs cut from the series, and where each window came from.

    ``history (N, L, n)``: the targets the model reads; ``covariates (N, L + H, C)``: the
    covariates of the history and of the forecast rows; ``future (N, H, n)``: the targets to
    forecast; ``series``: each window's series name; ``origins (N,)``: each window's first
    forecast row.
    """

    history: Tensor
    covariates: Tensor
    future: Tensor
    series: list[str]
    origins: np.ndarray

    def __len__(self) -> int:
        return len(self.history)


def make_windows(
    table: SeriesTable,
    scaler: SeriesScaler,
    lookback: int,
    horizon: int,
    span: int,
    spans: Spans,
    stride: int = 1,
) -> Windows:
    """All windows whose targets lie in span ``span`` (``TRAIN``, ``VALIDATION`` or ``TEST``),
    ``stride`` rows apart, scaled by ``scaler``."""
    n = len(table.columns.targets)
    histories, covariates, futures, names, origins = [], [], [], [], []
    for series in table.series:
        ends = spans.ends[series.name]
        start = 0 if span == TRAIN else ends[span - 1]
        starts = window_starts(start, ends[span], lookback, horizon, stride)
        scaled = scaler.transform(series.name, joined(series)).astype(np.float32)
        windows = gather_windows(scaled, starts, lookback + horizon)  # (N, L + H, n + C)
        histories.append(windows[:, :lookback, :n])
        futures.append(windows[:, lookback:, :n])
        covariates.append(windows[:, :, n:])
        names += [series.name] * len(starts)
        origins.append(starts + lookback)
    return Windows(
        history=torch.from_numpy(np.concatenate(histories)),
        covariates=torch.from_numpy(np.concatenate(covariates)),
        future=torch.from_numpy(np.concatenate(futures)),
        series=names,
        origins=np.concatenate(origins),
    )
