"""Progress on stderr, metrics.csv, loss.png and the TensorBoard fallback."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import pytest

from rnnkit.training.reporting import MetricsLog, format_duration
from rnnkit.viz.curves import plot_loss_curves

sys.path.insert(0, str(Path(__file__).parent))
from toy_objectives import train_toy  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_plain_progress_metrics_csv_and_loss_plot(tmp_path, capsys):
    _, objective, result = train_toy(tmp_path, epochs=2, log_every=3, progress="plain")
    captured = capsys.readouterr()
    assert captured.out == ""  # everything goes to stderr
    lines = captured.err.splitlines()
    assert [line.split()[1] for line in lines if line.startswith("step ") and "/8" in line] == [
        "3/8",
        "6/8",
    ]
    assert sum("validation: loss" in line for line in lines) == 2
    assert "items/s" in captured.err and "eta" in captured.err

    with open(tmp_path / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["step", "epoch", "train_loss", "items_per_s", "lr", "val_loss"]
    train_rows = [r for r in rows if r["train_loss"]]
    assert [int(r["step"]) for r in train_rows] == [3, 6]
    assert all(float(r["items_per_s"]) > 0 and float(r["lr"]) == 0.01 for r in train_rows)
    val_rows = [r for r in rows if r["val_loss"]]
    assert [(int(r["step"]), float(r["epoch"])) for r in val_rows] == [(4, 1.0), (8, 2.0)]
    assert float(val_rows[-1]["val_loss"]) == pytest.approx(result["metrics"]["loss"], rel=1e-5)
    assert (tmp_path / "loss.png").read_bytes().startswith(PNG_SIGNATURE)


def test_progress_bar_mode_draws_on_stderr(tmp_path, capsys):
    train_toy(tmp_path, epochs=1, progress="bar")
    captured = capsys.readouterr()
    assert captured.out == "" and "train" in captured.err and "4/4" in captured.err


def test_progress_off_is_silent(tmp_path, capsys):
    train_toy(tmp_path, epochs=1, progress="off")
    assert capsys.readouterr().err == ""


@pytest.mark.skipif(
    importlib.util.find_spec("tensorboard") is not None, reason="tensorboard is installed"
)
def test_tensorboard_without_the_package_warns_and_trains_on(tmp_path, capsys):
    _, _, result = train_toy(tmp_path, epochs=1, tensorboard=True, progress="plain")
    assert "pip install tensorboard" in capsys.readouterr().err
    assert result["step"] == 4 and (tmp_path / "model.safetensors").is_file()


def test_metrics_log_keeps_rows_up_to_the_resumed_step_and_grows_columns(tmp_path):
    path = tmp_path / "metrics.csv"
    log = MetricsLog(path, enabled=True)
    log.start(resume_step=None)
    log.append({"step": 1, "train_loss": 0.5})
    log.append({"step": 2, "val_loss": 0.4, "val_accuracy": 0.9})  # new columns: rewrite
    log.append({"step": 3, "train_loss": 0.3})
    with path.open("a") as handle:
        handle.write("4,0.")  # a torn row, as a kill -9 mid-append leaves it
    resumed = MetricsLog(path, enabled=True)
    resumed.start(resume_step=2)
    assert [row["step"] for row in resumed.rows] == [1, 2]
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[1]["val_accuracy"] == "0.9" and len(rows) == 2


def test_loss_curves_need_something_to_plot(tmp_path):
    assert plot_loss_curves([], tmp_path / "a.png") is None
    rows = [{"step": 1, "train_loss": 2.0}, {"step": 2, "val_loss": 1.5}, {"step": 3}]
    written = plot_loss_curves(rows, tmp_path / "b.png", validation_metric="loss", title="t")
    assert written.read_bytes().startswith(PNG_SIGNATURE)


@pytest.mark.parametrize(
    ("seconds", "text"), [(5, "5s"), (65, "1m05s"), (3725, "1h02m05s"), (float("nan"), "?")]
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_tensorboard_events_hold_the_values_of_metrics_csv(tmp_path):
    """The event file, read back with TensorBoard's own reader, holds metrics.csv's numbers."""
    pytest.importorskip("tensorboard", reason="--tensorboard needs the tensorboard package")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train_toy(tmp_path, epochs=2, log_every=2, tensorboard=True)
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    with (tmp_path / "metrics.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        for column, tag in [
            ("train_loss", "train/loss"),
            ("lr", "train/lr"),
            ("items_per_s", "train/items_per_s"),
            ("val_loss", "val/loss"),
        ]:
            if row.get(column):
                expected.setdefault(tag, []).append((int(row["step"]), float(row[column])))
    assert sorted(expected) == sorted(events.Tags()["scalars"])
    assert [step for step, _ in expected["val/loss"]] == [4, 8]
    assert len(expected["train/loss"]) == 4
    for tag, values in expected.items():
        logged = [(event.step, event.value) for event in events.Scalars(tag)]
        assert [step for step, _ in logged] == [step for step, _ in values], tag
        # metrics.csv keeps 6 significant digits, TensorBoard float32: both within 1e-5
        assert [value for _, value in logged] == pytest.approx(
            [value for _, value in values], rel=1e-5
        ), tag
