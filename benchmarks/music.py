"""Polyphonic music: test NLL per frame of ``rnnkit train music`` beside the published table.

For each data set of ``../shared/data/poly_music`` asked for (JSB Chorales, Nottingham, MuseData,
Piano-midi.de) and each head (``bernoulli``, ``nade``), trains a run on the ``train`` split
(validating on ``valid``, the kept weights the best validated), and prints the test
``nll_per_frame`` and ``frame_accuracy`` (as ``rnnkit evaluate --split test`` reports them),
beside the per-key marginal baseline (each key on with its training frequency, independently;
computed here on the same test frames) and the published figures: TCN paper (Bai et al. 2018,
table 1) and RNN-NADE (Boulanger-Lewandowski et al. 2012).

    python benchmarks/music.py --sets jsb --heads bernoulli,nade --time-per-model 10m
    python benchmarks/music.py --sets nottingham --heads nade --time-per-model 15m
    python benchmarks/music.py --sets jsb --heads bernoulli --extra "--transpose 4 --dropout 0.5"

Every run is written under ``--out`` and can be used afterwards (``rnnkit generate``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from rnnkit.cpu import bf16_flags
from rnnkit.data.piano_roll import read_pieces
from rnnkit.metrics.music import key_marginal_nll
from rnnkit.tasks import music

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "poly_music"
SETS = {
    "jsb": "JSB_Chorales.mat",
    "nottingham": "Nottingham.mat",
    "musedata": "MuseData.mat",
    "piano": "Piano_midi.mat",
}
#: published test NLL per frame: {set: {model: figure}}
PUBLISHED = {
    "jsb": {"LSTM": 8.45, "GRU": 8.43, "TCN": 8.10, "RNN-NADE": 5.56},
    "nottingham": {"LSTM": 3.29, "GRU": 3.46, "TCN": 3.07, "RNN-NADE": 2.31},
    "musedata": {"RNN-NADE": 5.60},
    "piano": {"RNN-NADE": 7.05},
}
#: goals of the issue
GOALS = {("jsb", "bernoulli"): 8.0, ("jsb", "nade"): 6.0, ("nottingham", "nade"): 2.8}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="jsb", help=f"comma-separated: {', '.join(SETS)}")
    parser.add_argument("--heads", default="bernoulli,nade")
    parser.add_argument("--time-per-model", default="10m")
    parser.add_argument("--out", type=Path, default=None, help="where runs go (default: temp)")
    parser.add_argument("--extra", default="", help="more flags for rnnkit train music")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads per run (OMP_NUM_THREADS): on a CPU shared with other work, two "
        "threads made an LSTM step up to 10x slower than one",
    )
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="music-bench-"))
    print(f"CPU flags: {bf16_flags()}; {args.threads} thread(s) per run; runs in {out}")
    environment = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    torch.set_num_threads(args.threads)  # the evaluation runs in this process
    rows = []
    for name in args.sets.split(","):
        path = DATA / SETS[name]
        if not path.exists():
            print(f"{path} is absent; skipping {name}", file=sys.stderr)
            continue
        pieces = read_pieces(path)
        test = [p[1:] for p in pieces.split("test")]  # the frames the models are scored on
        floor = key_marginal_nll(pieces.split("train"), test)
        for head in args.heads.split(","):
            run = out / f"{name}-{head}"
            command = [
                sys.executable, "-m", "rnnkit", "train", "music", "--data", str(path),
                "--out", str(run), "--head", head, "--time-limit", args.time_per_model,
                "--progress", "plain", "--log-every", "100", *args.extra.split(),
            ]  # fmt: skip
            if (run / "config.json").exists():
                command.append("--resume")
            print("$", " ".join(command), flush=True)
            subprocess.run(command, check=True, env=environment)
            figures = music.evaluate(run, path, split="test")
            results = json.loads((run / "config.json").read_text())["results"]
            rows.append((name, head, figures, floor, results))
    print()
    print(f"{'set':<11} {'head':<10} {'test NLL':>8} {'frame acc':>9} {'marginal':>8} "
          f"{'epochs':>6} {'minutes':>7}  goal   published")  # fmt: skip
    for name, head, figures, floor, results in rows:
        goal = GOALS.get((name, head))
        published = ", ".join(f"{k} {v}" for k, v in PUBLISHED[name].items())
        print(
            f"{name:<11} {head:<10} {figures['nll_per_frame']:8.2f} "
            f"{figures['frame_accuracy']:9.3f} {floor:8.2f} {float(results.get('epoch', 0)):6.1f} "
            f"{results.get('train_seconds', 0) / 60:7.1f}  "
            f"{'-' if goal is None else f'<= {goal}':<6} {published}"
        )


if __name__ == "__main__":
    main()
