"""Forecast and anomaly-detection figures on the shared data, with baselines from the same run.

Three parts (``--parts``, all by default):

- ``univariate``: every shared series (airline with the last 12 months held out and with a
  36-month backtest, shampoo, sunspots, daily temperatures and births, Beijing pm2.5, ETTh1 and
  ETTh2 ``OT``) with the horizon of its frequency (12 months, 24 hours; a week for the daily
  ones): RMSE, MASE and the 80% interval's coverage of ``rnnkit train forecast`` with its
  defaults (only data, windows, season and a time budget given) against the naive and
  seasonal-naive forecasts and statsmodels' ETS and ARIMA (``pip install rnnkit[baselines]``),
  all over the same rolling-origin test origins.
- ``multivariate``: ETTh1, all 7 columns standardised with training statistics, split
  8640/2880/2880, lookback 96, horizon 24, every test window (stride 1): test MSE in standardised
  units, the Informer paper's figure (attention-LSTM 0.650, Informer 0.577).
- ``nab``: each NAB file with its labelled anomaly windows: event-wise F1 and the NAB
  standard-profile score of ``rnnkit detect`` with its defaults, beside a random detector scored
  here and the published whole-corpus scores (Numenta HTM, random, null, perfect).

Smoke run::

    python benchmarks/forecast.py --smoke

Full run (9 forecasters x 90 s, 13 NAB detectors x 60 s, ETS/ARIMA fits: about 40 minutes on a
shared CPU; one torch thread is much faster for these small nets)::

    OMP_NUM_THREADS=1 python benchmarks/forecast.py --time-per-model 90s --nab-time 60s \
        --threads 1 --out bench
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from rnnkit.data.series import parse_split, split_points
from rnnkit.metrics import forecast as fm
from rnnkit.metrics import nab as nab_metric
from rnnkit.tasks import detect, forecast
from rnnkit.training import read_run_config

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
INFORMER_LSTM_MSE, INFORMER_MSE = 0.650, 0.577

#: the shared series, each with the horizon of its frequency (12 months, 24 hours; a week for the
#: daily ones), its season, and the ARIMA order fitted beside it (``log``: on log values)
UNIVARIATE = {
    "airline": dict(
        file="timeseries_classic/airline-passengers.csv",
        target="Passengers",
        time_column="Month",
        season=12,
        lookback=24,
        horizon=12,
        split="108,24,12",
        arima=(0, 1, 1),
        seasonal_arima=(0, 1, 1, 12),
        log=True,
    ),
    "airline, 36-month backtest": dict(
        file="timeseries_classic/airline-passengers.csv",
        target="Passengers",
        time_column="Month",
        season=12,
        lookback=24,
        horizon=12,
        split="84,24,36",
        arima=(0, 1, 1),
        seasonal_arima=(0, 1, 1, 12),
        log=True,
    ),
    "shampoo (36 months: H=6)": dict(
        file="timeseries_classic/monthly-shampoo-sales.csv",
        target="Sales",
        time_column=None,
        season=1,
        lookback=12,
        horizon=6,
        split="24,6,6",
        arima=(1, 1, 1),
        seasonal_arima=None,
        trend="t",
    ),
    "sunspots": dict(
        file="timeseries_classic/monthly-sunspots.csv",
        target="Sunspots",
        time_column="Month",
        season=12,
        lookback=48,
        horizon=12,
        split="0.7,0.1,0.2",
        arima=(2, 0, 1),
        seasonal_arima=None,
        trend="c",
    ),
    "temperatures (daily: H=7)": dict(
        file="timeseries_classic/daily-min-temperatures.csv",
        target="Temp",
        time_column="Date",
        season=7,
        lookback=28,
        horizon=7,
        split="0.7,0.1,0.2",
        arima=(2, 0, 1),
        seasonal_arima=None,
        trend="c",
    ),
    "births (daily: H=7)": dict(
        file="timeseries_classic/daily-total-female-births.csv",
        target="Births",
        time_column="Date",
        season=7,
        lookback=28,
        horizon=7,
        split="0.7,0.1,0.2",
        arima=(1, 1, 1),
        seasonal_arima=None,
    ),
    "pollution pm2.5": dict(
        file="timeseries_classic/pollution.csv",
        target="pm2.5",
        time_column=None,
        season=24,
        lookback=96,
        horizon=24,
        split="0.7,0.1,0.2",
        arima=(2, 1, 1),
        seasonal_arima=None,
    ),
    "ETTh1 OT": dict(
        file="ett/ETTh1.csv",
        target="OT",
        time_column="date",
        season=24,
        lookback=96,
        horizon=24,
        split="8640,2880,2880",
        arima=(2, 1, 1),
        seasonal_arima=None,
    ),
    "ETTh2 OT": dict(
        file="ett/ETTh2.csv",
        target="OT",
        time_column="date",
        season=24,
        lookback=96,
        horizon=24,
        split="8640,2880,2880",
        arima=(2, 1, 1),
        seasonal_arima=None,
    ),
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- univariate


def statistical_forecasts(values, fit_end, origins, horizon, season, setting, fit_rows) -> dict:
    """ETS and ARIMA forecasts ``(N, H)`` and 80% intervals ``(N, H, 2)`` from each origin,
    fitted once on the ``fit_rows`` rows before ``fit_end`` (the test span) and then run over the
    series with the fitted parameters (no refit per origin). ``setting["log"]``: fitted on log
    values (the classic airline model), forecasts and bounds turned back with exp."""
    try:
        from statsmodels.tsa.arima.model import ARIMA
        from statsmodels.tsa.statespace.exponential_smoothing import ExponentialSmoothing
    except ImportError:
        log("statsmodels is not installed: ETS and ARIMA left out (pip install rnnkit[baselines])")
        return {}
    use_log = setting.get("log", False)
    series = np.log(values) if use_log else values
    back = np.exp if use_log else (lambda x: x)
    models = {
        "ETS": lambda y: ExponentialSmoothing(
            y, trend=True, damped_trend=True, seasonal=season if season > 1 else None
        ),
        "ARIMA": lambda y: ARIMA(
            y,
            order=setting["arima"],
            seasonal_order=setting["seasonal_arima"] or (0, 0, 0, 0),
            trend=setting.get("trend"),
        ),
    }
    forecasts = {}
    for name, build in models.items():
        started = time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = build(series[max(0, fit_end - fit_rows) : fit_end]).fit()
            whole = fitted.apply(series[: origins[-1] + horizon])
            means, bounds = [], []
            for origin in origins:
                prediction = whole.get_prediction(
                    start=origin, end=origin + horizon - 1, dynamic=True
                )
                means.append(back(np.asarray(prediction.predicted_mean)))
                bounds.append(back(np.asarray(prediction.conf_int(alpha=0.2))))
        forecasts[name] = (np.array(means), np.array(bounds), time.process_time() - started)
        log(f"  {name}: fitted and run in {forecasts[name][2]:.0f} CPU s")
    return forecasts


def read_values(path: Path, setting: dict) -> pd.DataFrame:
    """The series as a two-column frame (time or row, target); pollution's leading missing day
    is dropped and its gaps interpolated, so every method reads the same numbers."""
    frame = pd.read_csv(path)
    target = setting["target"]
    time_column = setting["time_column"]
    frame = frame[[time_column, target]] if time_column else frame[[target]]
    first = frame[target].first_valid_index()
    frame = frame.loc[first:].reset_index(drop=True)
    frame[target] = frame[target].interpolate()
    return frame


def univariate(args, out: Path) -> list[dict]:
    rows = []
    names = [n for n in UNIVARIATE if not args.series or any(k in n for k in args.series)]
    for name in names:
        setting = UNIVARIATE[name]
        path = DATA / setting["file"]
        if not path.is_file():
            log(f"{path} not found; {name} skipped")
            continue
        frame = read_values(path, setting)
        data = out / f"{name.split()[0].strip(',')}.csv"
        frame.to_csv(data, index=False)
        log(f"{name}: training rnnkit with its defaults ({args.time_per_model})")
        # the defaults, as a user would run them: only the data, windows, season and budget
        options = forecast.ForecastOptions(
            data=data,
            out=out / name.replace(" ", "_").replace(",", "").replace(":", ""),
            target=setting["target"],
            time_column=setting["time_column"],
            lookback=setting["lookback"],
            horizon=setting["horizon"],
            season=setting["season"],
            split=setting["split"],
            time_limit=args.time_per_model,
            progress="off",
            device=args.device,
            seed=args.seed,
        )
        started = time.process_time()
        config = read_run_config(forecast.train(options))
        test, cpu = config["results"]["test"], time.process_time() - started

        # the baselines, over the same origins, from the same values
        values = frame[setting["target"]].to_numpy(dtype=np.float64)
        H, L, m = setting["horizon"], setting["lookback"], setting["season"]
        train_end, val_end, test_end = split_points(len(values), parse_split(setting["split"]))
        origins = fm.backtest_origins(val_end, test_end, max(L, m), H, H)
        actual = np.array([values[o : o + H] for o in origins])
        scale = fm.naive_scale(values[:train_end], m)
        candidates = {
            "naive": (np.array([fm.naive_forecast(values[:o], H) for o in origins]), None, 0.0),
            "seasonal naive": (
                np.array([fm.seasonal_naive_forecast(values[:o], H, m) for o in origins]),
                None,
                0.0,
            ),
        }
        candidates.update(
            statistical_forecasts(values, val_end, origins, H, m, setting, args.fit_rows)
        )
        rows.append(
            {
                "series": name,
                "model": f"rnnkit ({config['data'].get('transform')})",
                "rmse": test["rmse"],
                "mase": test["mase"],
                "cover80": test.get("coverage"),
                "cpu_s": cpu,
            }
        )
        for model, (predicted, bounds, seconds) in candidates.items():
            row = {
                "series": name,
                "model": model,
                "rmse": fm.rmse(actual, predicted),
                "mase": fm.mae(actual, predicted) / scale,
            }
            if bounds is not None:
                row["cover80"] = fm.coverage(actual, bounds[..., 0], bounds[..., 1])
            row["cpu_s"] = seconds
            rows.append(row)
        if test["forecasts"] != len(origins):
            log(
                f"warning: {name}: {test['forecasts']} RNN origins but {len(origins)} baseline ones"
            )
    return rows


# ----------------------------------------------------------------------------- multivariate


def multivariate(args, out: Path) -> list[dict]:
    path = DATA / "ett" / "ETTh1.csv"
    if not path.is_file():
        log(f"{path} not found; multivariate part skipped")
        return []
    log(f"ETTh1 multivariate: training the RNN ({args.time_per_model})")
    options = forecast.ForecastOptions(
        data=path,
        out=out / "ETTh1_multivariate",
        target="HUFL,HULL,MUFL,MULL,LUFL,LULL,OT",
        time_column="date",
        lookback=96,
        horizon=24,
        split="8640,2880,2880",
        backtest_stride=1,
        transform="none",  # the paper's figure is in standardised units of the raw values
        hidden=args.multivariate_hidden,
        layers=2,
        dropout=0.1,
        time_limit=args.time_per_model,
        progress="off",
        device=args.device,
        eval_every=args.eval_every,
        patience=args.patience,
        lr=1e-3,
        schedule="cosine",
        batch_size=64,
    )
    test = read_run_config(forecast.train(options))["results"]["test"]
    return [
        {
            "series": "ETTh1 7 columns, H=24",
            "model": "rnnkit LSTM",
            "mse": test["scaled_mse"],
            "mae": test["scaled_mae"],
        },
        {"series": "ETTh1 7 columns, H=24", "model": "naive", "mse": test["naive_scaled_mse"]},
        {
            "series": "ETTh1 7 columns, H=24",
            "model": "attention-LSTM (paper)",
            "mse": INFORMER_LSTM_MSE,
        },
        {"series": "ETTh1 7 columns, H=24", "model": "Informer (paper)", "mse": INFORMER_MSE},
    ]


# ----------------------------------------------------------------------------- NAB


def nab(args, out: Path) -> list[dict]:
    """Each NAB file with its labelled windows: event F1 and the NAB standard-profile score of
    ``rnnkit detect`` with its defaults, and of a random detector (as many flags, uniformly
    placed, the same seed) scored here; the published whole-corpus figures printed beside."""
    labels_file = DATA / "nab" / "labels" / "combined_windows.json"
    if not labels_file.is_file():
        log(f"{labels_file} not found; NAB part skipped")
        return []
    windows = json.loads(labels_file.read_text())
    files = sorted((DATA / "nab" / "data").glob("*/*.csv"))[: args.nab_files]
    rows, ours, random_scores = [], [], []
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as scratch:
        for path in files:
            key = f"{path.parent.name}/{path.name}"
            if key not in windows:
                continue
            # one file repeats timestamps (a clock change): keep the first row of each
            frame = pd.read_csv(path).drop_duplicates("timestamp").reset_index(drop=True)
            times = pd.to_datetime(frame["timestamp"])
            label = np.zeros(len(frame), dtype=int)
            for start, end in windows[key]:
                label[(times >= pd.Timestamp(start)) & (times <= pd.Timestamp(end))] = 1
            frame["label"] = label
            data = Path(scratch) / path.name
            frame.to_csv(data, index=False)
            log(f"NAB {key}: training the detector ({args.nab_time})")
            options = detect.DetectOptions(
                data=data,
                out=out / "nab" / path.stem,
                target="value",
                time_column="timestamp",
                label_column="label",
                fill="ffill",
                time_limit=args.nab_time,
                progress="off",
                device=args.device,
                seed=args.seed,
            )
            started = time.process_time()
            run_dir = detect.train(options)
            frame_out, metrics = detect.detect(run_dir, data)
            cpu = time.process_time() - started
            flags = frame_out["flag"].to_numpy().astype(bool)
            spans = nab_metric.windows_of(label)
            ours.append(nab_metric.score_file(flags, spans))
            random_flags = np.zeros(len(flags), dtype=bool)
            random_flags[rng.choice(len(flags), size=max(1, int(flags.sum())), replace=False)] = 1
            random_scores.append(nab_metric.score_file(random_flags, spans))
            rows.append(
                {
                    "series": key,
                    "windows": metrics["events"],
                    "detections": metrics["detections"],
                    "event_f1": metrics["event_f1"],
                    "nab": metrics["nab_score"],
                    "random_nab": nab_metric.normalised(random_scores[-1:]),
                    "cpu_s": cpu,
                }
            )
    if rows:
        rows.append(
            {
                "series": "all files",
                "windows": sum(r["windows"] for r in rows),
                "detections": sum(r["detections"] for r in rows),
                "event_f1": float(np.mean([r["event_f1"] for r in rows])),
                "nab": nab_metric.normalised(ours),
                "random_nab": nab_metric.normalised(random_scores),
                "cpu_s": sum(r["cpu_s"] for r in rows),
            }
        )
        for name, score in nab_metric.PUBLISHED.items():
            rows.append({"series": f"published, 58 files: {name}", "nab": score})
    return rows


# ----------------------------------------------------------------------------- report


def print_table(title: str, rows: list[dict]) -> None:
    if not rows:
        return
    columns = list(dict.fromkeys(key for row in rows for key in row))
    widths = {c: max(len(c), *(len(_cell(r.get(c))) for r in rows)) for c in columns}
    print(f"\n{title}")
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(_cell(row.get(c)).ljust(widths[c]) for c in columns))


def _cell(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.3f}"
    return "" if value is None else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="univariate,multivariate,nab")
    parser.add_argument("--time-per-model", default="2m", help="training budget of each forecaster")
    parser.add_argument("--series", nargs="*", help="only the univariate series naming these")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--nab-time", default="60s", help="training budget of each NAB detector")
    parser.add_argument("--nab-files", type=int, default=None, help="score only the first N files")
    parser.add_argument("--multivariate-hidden", type=int, default=128)
    parser.add_argument(
        "--fit-rows", type=int, default=3000, help="rows before the test span ETS/ARIMA fit on"
    )
    parser.add_argument("--eval-every", type=int, default=None)
    parser.add_argument("--patience", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=None, help="keep the run directories here")
    parser.add_argument("--smoke", action="store_true", help="tiny budgets: checks the script runs")
    args = parser.parse_args()
    if args.smoke:
        args.time_per_model, args.nab_time, args.nab_files = "15s", "8s", 2
        args.multivariate_hidden, args.fit_rows = 32, 500
    if args.threads:
        torch.set_num_threads(args.threads)
    parts = {p.strip() for p in args.parts.split(",")}
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        results = {}
        if "univariate" in parts:
            results["univariate"] = univariate(args, out)
        if "multivariate" in parts:
            results["multivariate"] = multivariate(args, out)
        if "nab" in parts:
            results["nab"] = nab(args, out)
    print_table("Univariate test (rolling origin): MASE and RMSE", results.get("univariate", []))
    print_table("ETTh1 multivariate test MSE (standardised)", results.get("multivariate", []))
    print_table(
        "NAB: event F1 (mean over files) and standard-profile score of rnnkit detect",
        results.get("nab", []),
    )
    if args.out:
        (args.out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
