"""Anomaly detection: streaming scores equal batch scores; a spike is scored far above the rest;
a resumed run keeps its scaler and its options."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.errors import UserError
from rnnkit.metrics.anomaly import event_scores
from rnnkit.tasks import detect, forecast


def spiky_series(path: Path, rows: int = 240) -> Path:
    rng = np.random.default_rng(0)
    t = np.arange(rows)
    value = np.sin(2 * np.pi * t / 16) + 0.05 * rng.standard_normal(rows)
    label = np.zeros(rows, dtype=int)
    value[220] += 4.0
    label[220] = 1
    pd.DataFrame(
        {
            "time": pd.date_range("2024-03-01", periods=rows, freq="15min").astype(str),
            "value": value,
            "label": label,
        }
    ).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module", params=["predict", "reconstruct"])
def trained(request, tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp(request.param)
    data = spiky_series(folder / "series.csv")
    options = detect.DetectOptions(
        data=data,
        out=folder / "run",
        target="value",
        time_column="time",
        calendar=True,
        label_column="label",
        method=request.param,
        window=16,
        hidden=16,
        epochs=15,
        progress="off",
        lr=1e-2,
    )
    run_dir = detect.train(options)
    return run_dir, data


def test_stream_scores_equal_batch_scores(trained: tuple[Path, Path]) -> None:
    run_dir, data = trained
    frame, _ = detect.detect(run_dir, data)
    stream = detect.open_stream(run_dir)
    rows = pd.read_csv(data, dtype=str).to_dict("records")
    streamed = np.array([stream.push(row)[1] for row in rows])
    batch = frame["score"].to_numpy()
    np.testing.assert_array_equal(np.isnan(streamed), np.isnan(batch))
    finite = ~np.isnan(batch)
    np.testing.assert_allclose(streamed[finite], batch[finite], rtol=1e-4, atol=1e-4)


def test_stream_flags_equal_batch_flags_and_the_period_was_found(
    trained: tuple[Path, Path],
) -> None:
    run_dir, data = trained
    # the sine's period of 16 rows, found on the training rows: the model reads y[t - 16]
    assert json.loads((run_dir / "config.json").read_text())["data"]["season"] == 16
    frame, _ = detect.detect(run_dir, data)
    stream = detect.open_stream(run_dir)
    rows = pd.read_csv(data, dtype=str).to_dict("records")
    streamed = [stream.push(row)[2] for row in rows]
    assert streamed == frame["flag"].astype(bool).tolist()


def test_the_probation_is_nabs_and_holds_no_flag(trained: tuple[Path, Path]) -> None:
    run_dir, data = trained
    section = json.loads((run_dir / "config.json").read_text())["detector"]
    # 240 rows: NAB's probationary period is floor(0.15 * 240) = 36 rows
    assert section["probation"] == 36 and section["phase"] is True
    frame, _ = detect.detect(run_dir, data)
    assert frame["flag"].to_numpy()[:36].sum() == 0


def test_seasonal_lag_columns_and_period_search() -> None:
    scaled = np.arange(12, dtype=float).reshape(6, 2)  # targets column 0, a covariate column 1
    lagged = detect.add_seasonal_lag(scaled, 1, 2)
    # rows 0 and 1 have no row two back: row 0's target; then rows t - 2
    np.testing.assert_array_equal(lagged[:, 2], [0, 0, 0, 2, 4, 6])
    np.testing.assert_array_equal(lagged[:, :2], scaled)
    assert detect.add_seasonal_lag(scaled, 1, 0) is scaled
    t = np.arange(600)
    rng = np.random.default_rng(0)
    assert (
        detect.find_season(np.sin(2 * np.pi * t / 24) + 0.1 * rng.standard_normal(600), 150) == 24
    )
    assert detect.find_season(rng.standard_normal(600).cumsum(), 150) == 0  # a random walk


def test_the_spike_has_the_highest_score(trained: tuple[Path, Path]) -> None:
    run_dir, data = trained
    frame, metrics = detect.detect(run_dir, data)
    # scores are the RMS of the last --smooth 4 row scores: the peak comes within 4 rows of it
    assert 220 <= int(np.nanargmax(frame["score"].to_numpy())) < 224
    labels = pd.read_csv(data)["label"].to_numpy()
    # the reported event-wise figures are those of the flags the run wrote
    expected = event_scores(labels, frame["flag"].to_numpy())
    assert metrics["event_f1"] == pytest.approx(expected["f1"])
    assert metrics["events"] == 1


def test_cli_stream_prints_the_batch_scores(trained: tuple[Path, Path], tmp_path: Path) -> None:
    run_dir, data = trained
    runner = CliRunner()
    batch = runner.invoke(app, ["detect", str(run_dir), "--data", str(data)])
    assert batch.exit_code == 0, batch.output
    assert {"point_f1", "event_f1"} <= set(json.loads(batch.stderr.strip().splitlines()[-1]))
    streamed = runner.invoke(app, ["detect", str(run_dir), "--stream"], input=data.read_text())
    assert streamed.exit_code == 0, streamed.output
    batch_lines = batch.stdout.splitlines()
    stream_lines = streamed.stdout.splitlines()
    assert stream_lines[0] == batch_lines[0] == "time,score,flag"
    assert len(stream_lines) == len(batch_lines)
    for ours, theirs in zip(stream_lines[1:], batch_lines[1:], strict=True):
        ours_time, ours_score, ours_flag = ours.split(",")
        time, score, flag = theirs.split(",")
        assert pd.Timestamp(ours_time) == pd.Timestamp(time) and ours_flag == flag
        assert (ours_score == "") == (score == "")
        if score:
            assert float(ours_score) == pytest.approx(float(score), rel=1e-4, abs=1e-4)


def test_evaluate_json_reports_the_label_metrics(trained: tuple[Path, Path]) -> None:
    run_dir, data = trained
    result = CliRunner().invoke(app, ["evaluate", str(run_dir), "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    frame, _ = detect.detect(run_dir, data)
    assert metrics["flagged"] == int(frame["flag"].sum())
    assert {"point_precision", "point_recall", "event_f1", "events"} <= set(metrics)


def test_stream_refuses_a_row_that_is_not_a_number(trained: tuple[Path, Path]) -> None:
    run_dir, data = trained
    lines = data.read_text().splitlines()
    lines[3] = lines[3].replace(lines[3].split(",")[1], "broken")
    result = CliRunner().invoke(app, ["detect", str(run_dir), "--stream"], input="\n".join(lines))
    assert result.exit_code == 2
    assert "stdin row 3 has 'broken'" in result.stderr


# ------------------------------------------------------------------------------------ resuming


def tiny_options(data: Path, out: Path, **more) -> detect.DetectOptions:
    settings = {
        "target": "value",
        "time_column": "time",
        "window": 8,
        "hidden": 8,
        "max_steps": 2,
        "progress": "off",
    }
    return detect.DetectOptions(data=data, out=out, **{**settings, **more})


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_resume_on_a_forecast_run_is_refused_and_leaves_it_as_it_was(tmp_path: Path) -> None:
    data = spiky_series(tmp_path / "series.csv")
    forecast_options = forecast.ForecastOptions(
        data=data,
        out=tmp_path / "run",
        target="value",
        time_column="time",
        lookback=8,
        horizon=4,
        hidden=8,
        max_steps=2,
        progress="off",
    )
    run_dir = forecast.train(forecast_options)
    before = snapshot(run_dir)
    with pytest.raises(UserError, match="is a run of task 'forecast', not 'detect'"):
        detect.train(tiny_options(data, run_dir, resume=True))
    assert snapshot(run_dir) == before


def test_resume_with_another_hidden_size_is_refused_and_keeps_the_config(tmp_path: Path) -> None:
    data = spiky_series(tmp_path / "series.csv")
    run_dir = detect.train(tiny_options(data, tmp_path / "run"))
    before = snapshot(run_dir)
    with pytest.raises(UserError, match="'hidden' was 8 in the run but is 16"):
        detect.train(tiny_options(data, run_dir, resume=True, hidden=16, max_steps=4))
    assert snapshot(run_dir) == before


def test_resume_keeps_the_stored_scaler_and_scores_with_it(tmp_path: Path) -> None:
    run_dir = detect.train(tiny_options(spiky_series(tmp_path / "a.csv"), tmp_path / "run"))
    scaler_bytes = (run_dir / "scaler.json").read_bytes()
    # a longer file whose level rises after the first run's rows: a refit would differ
    longer = spiky_series(tmp_path / "b.csv", rows=400)
    frame = pd.read_csv(longer)
    frame.loc[240:, "value"] += 3.0
    frame.to_csv(longer, index=False)

    detect.train(tiny_options(longer, run_dir, resume=True, max_steps=4))

    assert (run_dir / "scaler.json").read_bytes() == scaler_bytes
    config = json.loads((run_dir / "config.json").read_text())
    assert config["results"]["step"] == 4  # continued from step 2, not started again
    # the threshold was set from the training rows' scores (after the first --window 8 rows),
    # scaled with the stored scaler, as detect scores: quantile + 0.5 (quantile - median)
    scores = detect.detect(run_dir, longer)[0]["score"].to_numpy()
    training = scores[8 : config["detector"]["train_rows"]]
    training = training[np.isfinite(training)]
    q = np.quantile(training, 0.99)
    expected = q + 0.5 * (q - np.median(training))
    assert config["detector"]["threshold"] == pytest.approx(expected, rel=1e-5)
