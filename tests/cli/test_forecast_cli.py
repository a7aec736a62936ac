"""``rnnkit train forecast`` / ``rnnkit forecast`` end to end, and one test per bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from rnnkit.cli import app

runner = CliRunner()
TINY = [
    "--hidden",
    "8",
    "--max-steps",
    "3",
    "--progress",
    "off",
    "--lookback",
    "8",
    "--horizon",
    "4",
]


def seasonal_frame(rows: int = 120) -> pd.DataFrame:
    t = np.arange(rows)
    return pd.DataFrame(
        {
            "date": pd.date_range("2024-01-01", periods=rows, freq="h").astype(str),
            "load": 10 + np.sin(2 * np.pi * t / 12),
            "temp": np.cos(2 * np.pi * t / 24),
        }
    )


def write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def train(data: Path, out: Path, *extra: str):
    return runner.invoke(
        app,
        [
            "train",
            "forecast",
            "--data",
            str(data),
            "--out",
            str(out),
            "--target",
            "load",
            "--time-column",
            "date",
            *TINY,
            *extra,
        ],
    )


def refused(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.startswith("error: ")
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_train_then_forecast_writes_the_documented_columns(tmp_path: Path) -> None:
    data = write(seasonal_frame(), tmp_path / "history.csv")
    result = train(data, tmp_path / "run", "--likelihood", "gaussian", "--quantiles", "0.1,0.9")
    assert result.exit_code == 0, result.output
    output, plot = tmp_path / "next.csv", tmp_path / "next.png"
    result = runner.invoke(
        app,
        [
            "forecast",
            str(tmp_path / "run"),
            "--data",
            str(data),
            "--steps",
            "6",
            "--output",
            str(output),
            "--plot",
            str(plot),
        ],
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(output)
    assert list(table.columns) == ["date", "load", "load_q0.1", "load_q0.9"]
    # the time column continues the hourly series after its last row
    last = pd.Timestamp(seasonal_frame()["date"].iloc[-1])
    expected = pd.date_range(last, periods=7, freq="h")[1:]
    assert list(pd.to_datetime(table["date"])) == list(expected)
    assert (table["load_q0.1"] <= table["load"]).all() and (
        table["load"] <= table["load_q0.9"]
    ).all()
    assert plot.stat().st_size > 0
    result = runner.invoke(app, ["evaluate", str(tmp_path / "run"), "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert {"mase", "naive_mase", "seasonal_naive_mase", "coverage", "smape"} <= set(metrics)


def test_missing_target_column_lists_the_columns(tmp_path: Path) -> None:
    data = write(seasonal_frame(), tmp_path / "s.csv")
    result = runner.invoke(
        app,
        [
            "train",
            "forecast",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "r"),
            "--target",
            "sales",
            *TINY,
        ],
    )
    refused(result, "no column 'sales'", "'date', 'load', 'temp'")


def test_non_numeric_value_names_its_row(tmp_path: Path) -> None:
    frame = seasonal_frame()
    frame["load"] = frame["load"].astype(object)
    frame.loc[41, "load"] = "n/a?"
    refused(train(write(frame, tmp_path / "s.csv"), tmp_path / "r"), "'n/a?'", "row 42")


def test_missing_values_are_counted_unless_filled(tmp_path: Path) -> None:
    frame = seasonal_frame()
    frame.loc[[10, 11, 50], "load"] = np.nan
    data = write(frame, tmp_path / "s.csv")
    refused(train(data, tmp_path / "r"), "3 missing values", "--fill")
    assert train(data, tmp_path / "r2", "--fill", "interpolate").exit_code == 0


def test_a_series_shorter_than_lookback_plus_horizon_says_how_long(tmp_path: Path) -> None:
    data = write(seasonal_frame(10), tmp_path / "s.csv")
    refused(train(data, tmp_path / "r"), "has 10 rows", "at least 12")


@pytest.mark.parametrize(("swap", "message"), [((6, 3), "comes before"), ((6, 5), "repeats")])
def test_unsorted_or_duplicate_timestamps(tmp_path: Path, swap, message: str) -> None:
    frame = seasonal_frame()
    frame.loc[swap[0], "date"] = frame.loc[swap[1], "date"]  # goes back, or repeats
    refused(train(write(frame, tmp_path / "s.csv"), tmp_path / "r"), message, "sort the rows")


def test_forecast_history_with_other_columns_is_refused(tmp_path: Path) -> None:
    data = write(seasonal_frame(), tmp_path / "s.csv")
    assert train(data, tmp_path / "run").exit_code == 0
    other = write(seasonal_frame().rename(columns={"temp": "humidity"}), tmp_path / "h.csv")
    result = runner.invoke(app, ["forecast", str(tmp_path / "run"), "--data", str(other)])
    refused(result, "other columns than the training data", "'temp'", "'humidity'")


def test_gaps_in_the_timestamps_are_reported(tmp_path: Path) -> None:
    frame = seasonal_frame().drop(index=[30, 31, 70])
    result = train(write(frame, tmp_path / "s.csv"), tmp_path / "r")
    assert result.exit_code == 0, result.output
    assert "3 timestamps are missing at the step 'h'" in result.stderr


def test_resume_with_another_hidden_size_is_refused_and_keeps_the_config(tmp_path: Path) -> None:
    data = write(seasonal_frame(), tmp_path / "s.csv")
    assert train(data, tmp_path / "run").exit_code == 0
    config = (tmp_path / "run" / "config.json").read_bytes()
    scaler = (tmp_path / "run" / "scaler.json").read_bytes()
    result = train(data, tmp_path / "run", "--resume", "--hidden", "16")
    refused(result, "cannot resume", "'hidden' was 8 in the run but is 16")
    assert (tmp_path / "run" / "config.json").read_bytes() == config
    assert (tmp_path / "run" / "scaler.json").read_bytes() == scaler
