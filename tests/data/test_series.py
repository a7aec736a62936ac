"""Series reading, calendar features, splits, windows and scalers against hand-built examples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnkit.data.series import (
    SeriesColumns,
    SeriesScaler,
    calendar_features,
    describe_gaps,
    future_times,
    gather_windows,
    infer_frequency,
    load_series,
    parse_split,
    split_points,
    window_starts,
)
from rnnkit.errors import UserError


def write(tmp_path: Path, text: str, name: str = "series.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_window_starts_keep_targets_inside_the_span() -> None:
    # lookback 3, horizon 2 over rows [0, 10): windows start at 0..5 (targets end at row 9)
    assert window_starts(0, 10, 3, 2).tolist() == [0, 1, 2, 3, 4, 5]
    # the validation span [6, 10): inputs may reach back 3 rows, so starts 3..5
    assert window_starts(6, 10, 3, 2).tolist() == [3, 4, 5]
    assert window_starts(6, 10, 3, 2, stride=2).tolist() == [3, 5]
    assert window_starts(0, 4, 3, 2).tolist() == []  # too short for one window
    assert window_starts(1, 8, 5, 1).tolist() == [0, 1, 2]  # never before row 0


def test_gather_windows_cuts_the_rows_asked_for() -> None:
    array = np.arange(20).reshape(10, 2)
    windows = gather_windows(array, np.array([0, 4]), 3)
    assert windows.shape == (2, 3, 2)
    np.testing.assert_array_equal(windows[1], [[8, 9], [10, 11], [12, 13]])


def test_split_points_by_fractions_and_counts() -> None:
    assert split_points(100, parse_split("0.7,0.1,0.2")) == (70, 80, 100)
    assert split_points(17420, parse_split("8640,2880,2880")) == (8640, 11520, 14400)
    with pytest.raises(UserError, match="needs 300 rows"):
        split_points(200, parse_split("100,100,100"))
    for bad in ("0.7,0.1", "a,b,c", "0.8,0.2,0.2", "0.5,10,0.5"):
        with pytest.raises(UserError, match="--split"):
            parse_split(bad)


def test_scaler_uses_only_the_rows_it_is_fitted_on(tmp_path: Path) -> None:
    train = np.array([[1.0, 10.0], [3.0, 10.0]])  # second column constant: std stays 1
    scaler = SeriesScaler(columns=["a", "b"]).fit("s", train)
    assert scaler.mean["s"] == [2.0, 10.0]
    assert scaler.std["s"] == [1.0, 1.0]
    values = np.array([[5.0, 12.0]])
    np.testing.assert_allclose(scaler.transform("s", values), [[3.0, 2.0]])
    np.testing.assert_allclose(scaler.inverse("s", scaler.transform("s", values)), values)
    # a slice of columns: only the first column's statistics
    np.testing.assert_allclose(scaler.inverse("s", np.array([[1.0]]), slice(0, 1)), [[3.0]])
    scaler.save(tmp_path / "scaler.json")
    loaded = SeriesScaler.load(tmp_path / "scaler.json")
    np.testing.assert_allclose(loaded.transform("s", values), scaler.transform("s", values))
    with pytest.raises(UserError, match="was not in the training data"):
        loaded.transform("other", values)


def test_load_series_groups_a_long_table_by_its_series_column(tmp_path: Path) -> None:
    path = write(tmp_path, "id,t,y\nb,1,5\na,1,1\nb,2,6\na,2,2\na,3,3\n")
    table = load_series(path, SeriesColumns(targets=["y"], series="id"))
    assert [s.name for s in table.series] == ["b", "a"]
    np.testing.assert_array_equal(table.series[1].values[:, 0], [1, 2, 3])


def test_parquet_needs_pyarrow_or_reads(tmp_path: Path) -> None:
    path = tmp_path / "series.parquet"
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        path.write_bytes(b"PAR1")
        with pytest.raises(UserError, match="needs pyarrow"):
            load_series(path, SeriesColumns(targets=["y"]))
        return
    pd.DataFrame({"y": [1.0, 2.0, 3.0]}).to_parquet(path)
    values = load_series(path, SeriesColumns(targets=["y"])).series[0].values
    np.testing.assert_array_equal(values[:, 0], [1.0, 2.0, 3.0])


def test_fill_methods(tmp_path: Path) -> None:
    path = write(tmp_path, "t,y\n1,1\n2,\n3,3\n4,\n")
    columns = SeriesColumns(targets=["y"])
    with pytest.raises(UserError, match="2 missing values"):
        load_series(path, columns)
    np.testing.assert_array_equal(
        load_series(path, columns, fill="ffill").series[0].values[:, 0], [1, 1, 3, 3]
    )
    np.testing.assert_array_equal(
        load_series(path, columns, fill="interpolate").series[0].values[:, 0], [1, 2, 3, 3]
    )


def test_frequency_gaps_and_continuation() -> None:
    hourly = pd.DatetimeIndex(
        [
            "2024-01-01 00:00",
            "2024-01-01 01:00",
            "2024-01-01 04:00",
            "2024-01-01 05:00",
            "2024-01-01 06:00",
        ]
    )
    assert infer_frequency(hourly) == "h"
    assert "2 timestamps are missing" in describe_gaps(hourly, "h")
    monthly = pd.DatetimeIndex(["2024-01-01", "2024-02-01", "2024-03-01"])
    assert infer_frequency(monthly) == "MS"
    assert describe_gaps(monthly, "MS") is None
    assert list(future_times(monthly, "MS", 2)) == [
        pd.Timestamp("2024-04-01"),
        pd.Timestamp("2024-05-01"),
    ]


def test_calendar_features_follow_the_step() -> None:
    hourly = pd.date_range("2024-01-01", periods=30, freq="h")
    names, values = calendar_features(hourly)
    assert names[:4] == ["hour_sin", "hour_cos", "weekday_sin", "weekday_cos"]
    hour = np.asarray(hourly.hour)
    np.testing.assert_allclose(values[:, 0], np.sin(2 * np.pi * hour / 24))
    monthly = pd.date_range("2020-01-01", periods=24, freq="MS")
    names, values = calendar_features(monthly)
    assert names == ["month_sin", "month_cos"]
    np.testing.assert_allclose(values[12], values[0])  # a year later, the same point of the cycle
