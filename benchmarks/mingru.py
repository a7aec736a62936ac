"""minGRU speed: rnnkit's "scan", "loop" and "auto" backends against ``torch.nn.GRU``.

At B=16, I=H=256 and T = 128, 1024, 4096 each contender is timed on one training step (forward,
mean-square loss, backward, Adam step) and one forward pass under ``torch.inference_mode``. The
contenders take turns, each timing is repeated, and the table shows the median tokens/s (B*T per
second) with the ratio to ``torch.nn.GRU`` measured in the same run, plus what ``backend="auto"``
picks. The issue's target: mingru's auto backend >= 3x ``nn.GRU`` training tokens/s at T=1024, 4096.

Run: ``python benchmarks/mingru.py`` (about a minute on 2 cores) or ``--quick`` (T = 128, 1024).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

import rnnkit

BATCH, HIDDEN = 16, 256
CONTENDERS = ("mingru scan", "mingru loop", "mingru auto", "nn.GRU")


def build(name: str) -> nn.Module:
    """A one-layer recurrent module ``(B, T, H) -> ((B, T, H), state)`` for a contender's name."""
    if name == "nn.GRU":
        return nn.GRU(HIDDEN, HIDDEN, batch_first=True)
    backend = name.split()[-1]
    return rnnkit.RNN("mingru", HIDDEN, HIDDEN, backend=backend)


def training_step(module: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor) -> None:
    output, _ = module(x)
    output.square().mean().backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def forward_pass(module: nn.Module, x: torch.Tensor) -> None:
    with torch.inference_mode():
        module(x)


def seconds(run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def measure(steps: int, repeats: int) -> dict[str, tuple[float, float]]:
    """``{contender: (training tokens/s, forward tokens/s)}``, medians over interleaved repeats."""
    torch.manual_seed(0)
    x = torch.randn(BATCH, steps, HIDDEN)
    modules = {name: build(name) for name in CONTENDERS}
    optimizers = {name: torch.optim.Adam(m.parameters(), lr=1e-3) for name, m in modules.items()}
    runs = {
        name: (
            lambda m=module, o=optimizers[name]: training_step(m, o, x),
            lambda m=module: forward_pass(m, x),
        )
        for name, module in modules.items()
    }
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in CONTENDERS}
    for repeat in range(repeats + 1):  # the first round warms up and is not counted
        for name, (train, forward) in runs.items():
            train_s, forward_s = seconds(train), seconds(forward)
            if repeat:
                times[name][0].append(train_s)
                times[name][1].append(forward_s)
    tokens = BATCH * steps
    return {
        name: (tokens / statistics.median(train), tokens / statistics.median(forward))
        for name, (train, forward) in times.items()
    }


def main(quick: bool = False) -> None:
    lengths = (128, 1024) if quick else (128, 1024, 4096)
    repeats = 2 if quick else 3
    cell = rnnkit.RNN("mingru", HIDDEN, HIDDEN).cells[0]
    device = torch.device("cpu")
    print(
        f"minGRU vs nn.GRU, B={BATCH}, I=H={HIDDEN}, CPU, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f} at start"
    )
    columns = ["T".rjust(5), " contender".ljust(13), "train tok/s".rjust(12), "x GRU".rjust(6)]
    header = " ".join([*columns, "fwd tok/s".rjust(11), "x GRU".rjust(6)])
    print(header)
    print("-" * len(header))
    for steps in lengths:
        results = measure(steps, repeats)
        base_train, base_forward = results["nn.GRU"]
        for name, (train, forward) in results.items():
            label = name
            if name == "mingru auto":
                label = f"auto={cell.preferred_backend(steps, device)}"
            print(
                f"{steps:>5}  {label:<12} {train:>12,.0f} {train / base_train:>6.2f} "
                f"{forward:>11,.0f} {forward / base_forward:>6.2f}"
            )
    print(
        f"load average {os.getloadavg()[0]:.1f} at end (2 cores; above ~1 means they were shared)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="T = 128 and 1024 only, fewer repeats")
    main(quick=parser.parse_args().quick)
