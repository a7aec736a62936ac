"""Isolated spoken digits: ``rnnkit train classify --audio`` on FSDD's official split.

The Free Spoken Digit Dataset (3,000 8 kHz WAVs named ``{digit}_{speaker}_{index}.wav``, six
speakers) has an official split by index: test = index 0-4 (300 files), train = index 5-49 (2,700
files). This script writes the two ``path,label`` tables into a temporary folder, trains with the
command line exactly as a user would (the run holds out 10% of the training files for keeping
the best weights; the test files are never seen in training), then prints the test accuracy
from ``rnnkit evaluate --json``, the majority-class accuracy as the baseline, and the times.
Training runs with ``OMP_NUM_THREADS=1`` by default (``--threads``): on two cores shared with
other jobs, two torch threads ran 5-50x slower than one::

    python benchmarks/spoken_digits.py                         # defaults, 240 s time limit
    python benchmarks/spoken_digits.py --time-limit 60 -- --hidden 64   # extra train flags

Point ``--data-dir`` at another copy of FSDD's ``recordings`` folder if needed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

RECORDINGS = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "recordings"
NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)$")
TEST_INDICES = range(5)  # the official test split: index 0-4 of every digit and speaker


def official_split(folder: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(train, test) rows of ``(absolute path, digit)`` by FSDD's official split."""
    train, test = [], []
    for path in sorted(folder.glob("*.wav")):
        match = NAME.match(path.stem)
        if match is None:
            continue
        digit, _, index = match.groups()
        (test if int(index) in TEST_INDICES else train).append((str(path), digit))
    if not train or not test:
        sys.exit(f"{folder} holds no FSDD recordings named digit_speaker_index.wav")
    return train, test


def write_table(path: Path, rows: list[tuple[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["path", "label"])
        writer.writerows(rows)
    return path


def rnnkit(*args: str | Path, threads: int) -> str:
    """Run the ``rnnkit`` command line with ``threads`` torch threads; its stdout (stderr goes
    to the terminal)."""
    command = [sys.executable, "-m", "rnnkit", *map(str, args)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    return subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True, env=env).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=RECORDINGS)
    parser.add_argument("--time-limit", default="240", help="Training time limit (seconds).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=1, help="OMP_NUM_THREADS (1 on shared, busy cores)."
    )
    parser.add_argument("extra", nargs="*", help="More `rnnkit train classify` flags (after --).")
    args = parser.parse_args()

    train_rows, test_rows = official_split(args.data_dir)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        train_csv = write_table(root / "digits_train.csv", train_rows)
        test_csv = write_table(root / "digits_test.csv", test_rows)
        flags = ["--time-limit", args.time_limit, "--seed", str(args.seed), *args.extra]
        train_args = ["train", "classify", "--audio", "--data", train_csv, "--out", root / "run"]
        started = time.perf_counter()
        rnnkit(*train_args, "--progress", "plain", *flags, threads=args.threads)
        train_seconds = time.perf_counter() - started
        started = time.perf_counter()
        evaluate = ["evaluate", root / "run", "--data", test_csv, "--json"]
        metrics = json.loads(rnnkit(*evaluate, threads=args.threads))
        eval_seconds = time.perf_counter() - started
        info = json.loads(rnnkit("info", root / "run", "--json", threads=args.threads))

    majority = Counter(label for _, label in test_rows).most_common(1)[0][1] / len(test_rows)
    print(f"FSDD official split: {len(train_rows)} train files, {len(test_rows)} test files")
    print("command: rnnkit train classify --audio --data digits_train.csv " + " ".join(flags))
    print(f"model: {info['model']}  features: {info['data'].get('features')}")
    print(f"training: {info['training'].get('epochs')} epochs, {train_seconds:.0f} s wall")
    print(f"test accuracy: {metrics['accuracy']:.4f} ({metrics['examples']} files)")
    print(f"majority-class accuracy (baseline): {majority:.4f}")
    print(f"evaluate: {eval_seconds:.1f} s wall; OMP_NUM_THREADS={args.threads}")


if __name__ == "__main__":
    main()
