"""The forecast task learns a seasonal series better than the naive forecast (computed here),
and a resumed run keeps its scaler."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ridge_oracle import numpy_combined_ridge
from safetensors.torch import load_file

from rnnkit.data.series import SINGLE_SERIES, SeriesScaler
from rnnkit.errors import UserError
from rnnkit.tasks import detect, forecast


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
    # a point forecaster's intervals come calibrated on its validation residuals
    quantiles = ["sales_q0.1", "sales_q0.5", "sales_q0.9"]
    assert list(table.columns) == ["day", "shop", "sales", *quantiles]
    assert (table["sales_q0.1"] <= table["sales_q0.9"]).all()
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


# ------------------------------------------------------------------------------------ resuming


def rising_series(path: Path, rows: int) -> Path:
    """An hourly series whose level rises along it, so a scaler fitted on more rows differs."""
    t = np.arange(rows)
    value = 10 + 0.05 * t + np.sin(2 * np.pi * t / 12)
    times = pd.date_range("2024-01-01", periods=rows, freq="h").astype(str)
    pd.DataFrame({"time": times, "value": value}).to_csv(path, index=False)
    return path


def tiny_options(data: Path, out: Path, **more) -> forecast.ForecastOptions:
    settings = {
        "target": "value",
        "time_column": "time",
        "lookback": 8,
        "horizon": 4,
        "hidden": 8,
        "max_steps": 2,
        "progress": "off",
    }
    return forecast.ForecastOptions(data=data, out=out, **{**settings, **more})


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_resume_on_a_detect_run_is_refused_and_leaves_it_as_it_was(tmp_path: Path) -> None:
    data = rising_series(tmp_path / "series.csv", 120)
    detect_options = detect.DetectOptions(
        data=data,
        out=tmp_path / "run",
        target="value",
        time_column="time",
        window=8,
        hidden=8,
        max_steps=2,
        progress="off",
    )
    run_dir = detect.train(detect_options)
    before = snapshot(run_dir)
    with pytest.raises(UserError, match="is a run of task 'detect', not 'forecast'"):
        forecast.train(tiny_options(data, run_dir, resume=True))
    assert snapshot(run_dir) == before


def test_resume_keeps_the_stored_scaler_and_scales_with_it(tmp_path: Path) -> None:
    run_dir = forecast.train(tiny_options(rising_series(tmp_path / "a.csv", 120), tmp_path / "run"))
    scaler_bytes = (run_dir / "scaler.json").read_bytes()
    longer = rising_series(tmp_path / "b.csv", 200)
    # a refit on the longer file's training span (its first 140 rows) would give another scaler
    values = pd.read_csv(longer)["value"].to_numpy()[:140, None]
    refit = SeriesScaler(columns=["value"]).fit(SINGLE_SERIES, values)
    assert refit.to_dict() != SeriesScaler.load(run_dir / "scaler.json").to_dict()

    forecast.train(tiny_options(longer, run_dir, resume=True, max_steps=4))

    assert (run_dir / "scaler.json").read_bytes() == scaler_bytes
    results = json.loads((run_dir / "config.json").read_text())["results"]
    assert results["step"] == 4  # continued from step 2, not started again
    # the backtest after training scaled with the stored scaler, as evaluate does
    again = forecast.evaluate(run_dir, longer)
    assert results["test"]["scaled_mse"] == pytest.approx(again["scaled_mse"])


def test_log_transform_of_values_that_are_not_positive_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "zeros.csv"
    pd.DataFrame({"y": np.arange(60) % 5}).to_csv(data, index=False)  # holds zeros
    options = forecast.ForecastOptions(
        data=data, out=tmp_path / "run", target="y", lookback=8, horizon=2, transform="log"
    )
    with pytest.raises(UserError, match="--transform log needs positive targets"):
        forecast.train(options)
    assert not (tmp_path / "run").exists()
    with pytest.raises(UserError, match="--season 12 is longer than --lookback 8"):
        forecast.ForecastOptions(
            data=data, out=tmp_path / "run", target="y", lookback=8, season=12
        ).validate()


class _StoredRun:
    """What ``linear_choice`` reads of a resumed run: its ``data`` section."""

    def __init__(self, data: dict) -> None:
        self.data = data

    def section(self, name: str) -> dict:
        assert name == "data"
        return self.data


def test_a_resumed_run_keeps_its_choices_and_an_older_run_its_season_and_one_penalty() -> None:
    options = forecast.ForecastOptions(target="y", lookback=24, horizon=2, season=12)

    def kept(data: dict) -> tuple:
        choice, errors = forecast.linear_choice(options, None, None, _StoredRun(data))
        return choice.transform, choice.season, choice.penalties, errors

    newer = {
        "transform": "log",
        "base_season": 1,
        "linear_penalty": 0.1,
        "linear_penalties": [0.1, 1.0],
    }
    assert kept(newer) == ("log", 1, (0.1, 1.0), {})
    # before the base was chosen: the season of --season; before the combination: one penalty
    assert kept({"transform": "diff", "linear_penalty": 10.0}) == ("diff", 12, (10.0,), {})


def test_a_random_walk_given_a_season_is_forecast_over_its_last_value(tmp_path: Path) -> None:
    # the run's model takes the base the fold choice names (here the naive one: a random walk
    # has no season), while the backtest still scores MASE and seasonal naive with --season
    rng = np.random.default_rng(3)
    data = tmp_path / "walk.csv"
    pd.DataFrame({"y": 100 + np.cumsum(rng.normal(size=200))}).to_csv(data, index=False)
    options = forecast.ForecastOptions(
        data=data,
        out=tmp_path / "run",
        target="y",
        lookback=24,
        horizon=6,
        season=12,
        split="140,30,30",
        epochs=1,
        progress="off",
    )
    config = json.loads((forecast.train(options) / "config.json").read_text())
    assert config["data"]["base_season"] == config["model"]["season"] == 1
    assert config["results"]["test"]["season"] == 12
    fixed = dataclasses.replace(options, out=tmp_path / "fixed", base="seasonal")
    assert json.loads((forecast.train(fixed) / "config.json").read_text())["model"]["season"] == 12


def test_a_base_without_a_residual_or_unknown_is_refused(tmp_path: Path) -> None:
    base = dict(data=tmp_path / "x.csv", out=tmp_path / "r", target="y", lookback=24, season=12)
    with pytest.raises(UserError, match="--base naive is the base of the residual"):
        forecast.ForecastOptions(**base, base="naive", residual=False).validate()
    with pytest.raises(UserError, match="--base 'weekly' is not known"):
        forecast.ForecastOptions(**base, base="weekly").validate()


def hand_linear_fit(
    scaled: np.ndarray, end: int, lookback: int, horizon: int, season: int, factors: list[float]
) -> tuple[np.ndarray, np.ndarray]:
    """The linear part by hand: every window of the standardised series ``scaled (T,)`` whose
    targets end by row ``end``, read relative to its last value over its spread (standard
    deviation + 0.01), the seasonal-naive residual as target, the mean of the ridge fits with
    each penalty ``factor * rows``."""
    origins = range(lookback, end - horizon + 1)
    history = np.stack([scaled[o - lookback : o] for o in origins])  # (N, L)
    future = np.stack([scaled[o : o + horizon] for o in origins])  # (N, H)
    last, spread = history[:, -1:], history.std(axis=1, keepdims=True) + 1e-2
    base = np.tile(history[:, -season:], -(-horizon // season))[:, :horizon]
    return numpy_combined_ridge((history - last) / spread, (future - base) / spread, factors)


def test_the_linear_part_is_fitted_again_on_every_window_before_the_test_span(
    tmp_path: Path,
) -> None:
    # a trend that bends: the windows of the validation span carry what the training span lacks
    rng = np.random.default_rng(5)
    t = np.arange(130)
    y = 50 + 0.3 * t + 0.004 * t**2 + 4 * np.sin(2 * np.pi * t / 6) + rng.normal(size=len(t))
    data = tmp_path / "bending.csv"
    pd.DataFrame({"y": y}).to_csv(data, index=False)
    options = forecast.ForecastOptions(
        data=data,
        out=tmp_path / "refit",
        target="y",
        lookback=12,
        horizon=3,
        season=6,
        base="seasonal",
        transform="none",
        split="70,30,30",
        hidden=4,
        ensemble=1,
        max_steps=3,
        progress="off",
        seed=0,
    )
    kept = dataclasses.replace(options, out=tmp_path / "kept", refit_linear=False)
    runs = {"refit": forecast.train(options), "kept": forecast.train(kept)}
    configs = {k: json.loads((d / "config.json").read_text()) for k, d in runs.items()}
    factors = configs["refit"]["data"]["linear_penalties"]
    stats = json.loads((runs["refit"] / "scaler.json").read_text())
    mean, std = stats["mean"][SINGLE_SERIES][0], stats["std"][SINGLE_SERIES][0]
    scaled = (y - mean) / std
    for name, end in (("refit", 100), ("kept", 70)):
        weights = load_file(runs[name] / "model.safetensors")
        expected_w, expected_b = hand_linear_fit(scaled, end, 12, 3, 6, factors)
        np.testing.assert_allclose(weights["linear_weight"].numpy(), expected_w, atol=2e-5)
        np.testing.assert_allclose(weights["linear_bias"].numpy(), expected_b, atol=2e-5)
    # the net's weight and the intervals were chosen on validation before the refit: the same
    refit, before = configs["refit"], configs["kept"]
    assert refit["results"]["net_weight"] == before["results"]["net_weight"]
    assert refit["intervals"] == before["intervals"]
    assert refit["results"]["linear_refit"] and not before["results"]["linear_refit"]
    assert refit["results"]["test"]["rmse"] != before["results"]["test"]["rmse"]
    # evaluate reads the refitted weights back: the same backtest as training's
    again = forecast.evaluate(runs["refit"], data)
    assert again["rmse"] == pytest.approx(refit["results"]["test"]["rmse"])
