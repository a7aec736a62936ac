"""Numeric-sequence classification: MNIST-1D with rnnkit's classifier (no embedding).

MNIST-1D (Greydanus 2020) turns the ten digit templates into 1-D signals of 40 steps, shifted,
scaled, sheared and noised, so that ten classes must be told apart from one feature per step.
``pip install mnist1d`` generates the set offline (4000 training and 1000 test sequences); it is
only needed for this example, not by rnnkit. The data are saved as ``.npz`` files (``x`` (N, 40,
1), ``y``) and trained exactly as ``rnnkit train classify --data train.npz`` would, features
standardised with statistics saved in the run directory::

    python examples/mnist1d_classify.py --out runs/mnist1d --epochs 20

The same from the command line, after the first run wrote the files::

    rnnkit train classify --data runs/mnist1d-data/train.npz --cell gru --pooling mean \\
        --hidden 128 --epochs 20 --out runs/mnist1d-cli
    rnnkit evaluate runs/mnist1d-cli --data runs/mnist1d-data/test.npz --json

For comparison, the MNIST-1D paper reports test accuracy of about 32% for logistic regression,
68% for an MLP, 87% for a GRU and 94% for a CNN.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from rnnkit.tasks import classify


def write_mnist1d(folder: Path, seed: int = 42) -> tuple[Path, Path]:
    """Generate MNIST-1D with its default arguments and save train/test ``.npz`` files."""
    from mnist1d.data import get_dataset_args, make_dataset

    arguments = get_dataset_args()
    arguments.seed = seed
    data = make_dataset(arguments)
    folder.mkdir(parents=True, exist_ok=True)
    train, test = folder / "train.npz", folder / "test.npz"
    np.savez(train, x=data["x"][:, :, None].astype(np.float32), y=data["y"])
    np.savez(test, x=data["x_test"][:, :, None].astype(np.float32), y=data["y_test"])
    return train, test


def main() -> None:
    parser = argparse.ArgumentParser(description="MNIST-1D with rnnkit's sequence classifier.")
    parser.add_argument("--out", type=Path, default=Path("runs/mnist1d"))
    parser.add_argument("--cell", default="gru")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--pooling", default="mean")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--time-limit", default=None, help="e.g. 2m")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    train, test = write_mnist1d(args.out.parent / f"{args.out.name}-data")
    options = classify.ClassifyOptions(
        data=train,
        out=args.out,
        cell=args.cell,
        hidden=args.hidden,
        layers=1,
        pooling=args.pooling,
        dropout=0.1,
        batch_size=64,
        lr=3e-3,
        schedule="cosine",
        epochs=args.epochs,
        time_limit=args.time_limit,
        progress="plain",
    )
    run_dir = classify.train(options)
    metrics = classify.evaluate(run_dir, test)
    print(f"MNIST-1D test accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}")
    print(f"run directory: {run_dir} (confusion matrix of the validation part: confusion.png)")


if __name__ == "__main__":
    main()
