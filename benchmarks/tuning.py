"""What ``rnnkit tune`` buys: the best of N tuned trials against the default options, same budget.

On one UCI sentiment set (Kotzias et al. 2015, 1000 sentences, default yelp), split once into
training and test parts (stratified, fixed seed), in the same run:

- default: ``rnnkit train classify`` with its default options and ``--time-limit T``;
- tuned: ``rnnkit tune classify --trials N --time-per-trial T`` (TPE, median pruner, the task's
  own search space), whose best trial is chosen on the classifier's validation split, a part
  of the training part;

both are then scored on the test part, which neither saw. Prints validation and test accuracy
of each, and the difference, with the time each took. Quick check (about 2 minutes)::

    OMP_NUM_THREADS=1 python benchmarks/tuning.py --trials 3 --time-per-trial 20s

The figure in the README::

    OMP_NUM_THREADS=1 python benchmarks/tuning.py --trials 8 --time-per-trial 1m
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import torch

from rnnkit.data.labelled import stratified_split
from rnnkit.tasks import classify
from rnnkit.tasks.search_space import searched
from rnnkit.tasks.tuning import TuneSettings, tune
from rnnkit.training import parse_duration

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "uci_sentiment"


def read_sentences(path: Path) -> list[tuple[str, str]]:
    """(sentence, label) pairs of a ``sentence<TAB>label`` file."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text, _, label = line.rpartition("\t")
        if text.strip() and label.strip():
            rows.append((text.strip(), label.strip()))
    return rows


def write_table(path: Path, rows: list[tuple[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA / "yelp_labelled.txt")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--time-per-trial", default="1m")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pruner", default="median")
    parser.add_argument(
        "--val-fraction", type=float, default=0.1, help="of the training part, for both runs"
    )
    args = parser.parse_args()
    if not args.data.is_file():
        sys.exit(f"data not found: {args.data}")
    seconds = parse_duration(args.time_per_trial)
    torch.set_num_threads(1)

    rows = read_sentences(args.data)
    train_rows, test_rows = stratified_split([y for _, y in rows], args.test_fraction, args.seed)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        train_csv = write_table(folder / "train.csv", [rows[i] for i in train_rows])
        test_csv = write_table(folder / "test.csv", [rows[i] for i in test_rows])
        base = dict(
            data=train_csv,
            val_fraction=args.val_fraction,
            progress="off",
            device="cpu",
            seed=args.seed,
        )

        started = time.perf_counter()
        default_dir = classify.train(
            classify.ClassifyOptions(out=folder / "default", time_limit=seconds, **base)
        )
        default_seconds = time.perf_counter() - started

        space = classify.ClassifyOptions.search_space
        settings = TuneSettings(
            trials=args.trials, space=space, pruner=args.pruner, time_per_trial=seconds
        )
        started = time.perf_counter()
        result = tune(
            classify.TASK_SPEC, classify.ClassifyOptions(out=folder / "tuned", **base), settings
        )
        tuned_seconds = time.perf_counter() - started

        figures = {}
        for name, run_dir in (("default", default_dir), ("tuned", result.out)):
            validation = classify.TASK_SPEC.open(run_dir).config["results"]["metrics"]["accuracy"]
            figures[name] = (validation, classify.evaluate(run_dir, test_csv)["accuracy"])

    print(
        f"{args.data.name}: {len(train_rows)} training sentences ({args.val_fraction:.0%} of "
        "them validate), "
        f"{len(test_rows)} test; searched {', '.join(searched(space))}"
    )
    print(f"{'':<8} {'val acc':>8} {'test acc':>8} {'seconds':>8}")
    runs = {"default": default_seconds, "tuned": tuned_seconds}
    for name, spent in runs.items():
        validation, test = figures[name]
        print(f"{name:<8} {validation:>8.3f} {test:>8.3f} {spent:>8.0f}")
    print(f"tuned: {result.finished} trials, the best is trial {result.best_trial}")
    difference = figures["tuned"][1] - figures["default"][1]
    print(f"tuned - default test accuracy: {difference:+.3f}")
    shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                      for k, v in result.best_params.items())  # fmt: skip
    print(f"best options: {shown}")


if __name__ == "__main__":
    main()
