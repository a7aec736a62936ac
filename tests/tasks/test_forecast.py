"""The forecast task learns a seasonal series better than the naive forecast (computed here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnkit.errors import UserError
from rnnkit.tasks import forecast


def test_forecaster_beats_the_naive_forecast_on_a_seasonal_series(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(360)
    y = 5 + 2 * np.sin(2 * np.pi * t / 12) + 0.1 * rng.standard_normal(len(t))
    data = tmp_path / "seasonal.csv"
    pd.DataFrame({"y": y}).to_csv(data, index=False)
    options = forecast.ForecastOptions(
        data=data,
        out=tmp_path / "run",
        target="y",
        lookback=24,
        horizon=6,
        split="0.7,0.1,0.2",
        hidden=24,
        epochs=12,
        batch_size=32,
        progress="off",
        seed=0,
    )
    metrics = forecast.evaluate(forecast.train(options), data)

    # the naive forecast over the same origins, computed here: test span [288, 360), stride 6
    origins = range(288, 360 - 6 + 1, 6)
    naive_errors = [np.abs(y[o : o + 6] - y[o - 1]) for o in origins]
    naive_mae = float(np.mean(naive_errors))
    assert metrics["forecasts"] == len(origins)
    assert metrics["naive_mae"] == pytest.approx(naive_mae)
    assert metrics["mae"] < 0.5 * naive_mae
    assert metrics["beats_naive"]


@pytest.mark.parametrize("decoder", ["direct", "autoregressive"])
def test_long_table_with_calendar_and_recursive_steps(tmp_path: Path, decoder: str) -> None:
    times = pd.date_range("2024-01-01", periods=80, freq="D")
    frames = [
        pd.DataFrame({"day": times, "shop": name, "sales": level + np.arange(80) % 7})
        for name, level in (("a", 10.0), ("b", 50.0))
    ]
    data = tmp_path / "shops.csv"
    pd.concat(frames).to_csv(data, index=False)
    options = forecast.ForecastOptions(
        data=data,
        out=tmp_path / "run",
        target="sales",
        time_column="day",
        series_column="shop",
        calendar=True,
        lookback=14,
        horizon=7,
        hidden=8,
        max_steps=2,
        progress="off",
        decoder=decoder,
    )
    run_dir = forecast.train(options)
    table = forecast.forecast(run_dir, data, steps=10)  # beyond the horizon: recursive
    assert list(table.columns) == ["day", "shop", "sales"]
    assert table.groupby("shop").size().to_dict() == {"a": 10, "b": 10}
    first = table[table.shop == "a"]["day"].iloc[0]
    assert pd.Timestamp(first) == times[-1] + pd.Timedelta(days=1)


def test_user_covariates_come_from_the_rows_after_the_history(tmp_path: Path) -> None:
    t = np.arange(100)
    frame = pd.DataFrame({"load": np.sin(t / 4.0), "temp": np.cos(t / 4.0)})
    data = tmp_path / "train.csv"
    frame.to_csv(data, index=False)
    options = forecast.ForecastOptions(
        data=data,
        out=tmp_path / "run",
        target="load",
        covariates="temp",
        lookback=10,
        horizon=4,
        hidden=8,
        max_steps=2,
        progress="off",
    )
    run_dir = forecast.train(options)
    future = pd.DataFrame({"load": [np.nan] * 3, "temp": [0.1, 0.2, 0.3]})
    history = tmp_path / "history.csv"
    pd.concat([frame, future]).to_csv(history, index=False)
    assert len(forecast.forecast(run_dir, history, steps=3)) == 3
    with pytest.raises(UserError, match=r"with 5 rows .* \(it has 3\)"):
        forecast.forecast(run_dir, history, steps=5)
