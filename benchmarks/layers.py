"""Layer speed: tokens/s (B * T per second) of ``rnnkit.RNN`` against torch's fused kernels.

Forward (inference mode) and training (forward, backward and an Adam step) are timed for:

- rnnkit ``"lstm"`` / ``"gru"`` (backend ``"auto"``) against raw ``nn.LSTM`` / ``nn.GRU`` at
  (B=32, T=128, H=256, 1 layer) and (B=64, T=64, H=512, 2 layers);
- ``"ln_lstm"`` / ``"ln_gru"`` with each backend against raw ``nn.LSTM`` at (B=32, T=128, H=256).
  ``"fused"`` runs the C step kernel (``rnnkit/native``) where it builds; the row ``fused torch``
  times the same layer's pure-torch kernel (``RNNKIT_NATIVE=0``) in the same run. ``"compiled"``
  only with ``--compile`` (compiling takes minutes on a small CPU).

The models of a group take turns, one forward pass and one training step each per round, for
``--rounds`` rounds (default 10), and each row reports the median over its rounds: a machine whose
speed drifts (shared, or throttled; 25% between runs here) then disturbs baseline and candidate
alike, and the ratios compare numbers measured side by side in the same run. Input size equals
hidden size. A final section runs ``benchmarks/mingru.py`` when it exists.

Run: ``python benchmarks/layers.py`` (a few minutes on 2 busy cores), ``--quick`` for a smoke run,
``--only NAME`` (lstm, gru, ln_lstm, ln_gru, mingru) for one row group, ``--threads N`` to set
torch's intra-op threads (on a machine shared with other work, 1 thread gives steadier ratios).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

import rnnkit


@dataclass(frozen=True)
class Shape:
    batch: int
    steps: int
    hidden: int
    layers: int

    @property
    def tokens(self) -> int:
        return self.batch * self.steps

    def __str__(self) -> str:
        return f"B={self.batch} T={self.steps} H={self.hidden} L={self.layers}"


@dataclass(frozen=True)
class Candidate:
    name: str  # row group, the value --only selects
    label: str  # what the row shows
    build: Callable[[], nn.Module]
    baseline: str  # label of the row it is compared with


@dataclass
class Timing:
    forward: list[float] = field(default_factory=list)  # seconds, one per round
    train: list[float] = field(default_factory=list)

    @property
    def forward_s(self) -> float:
        return statistics.median(self.forward)

    @property
    def train_s(self) -> float:
        return statistics.median(self.train)


SMALL = Shape(batch=32, steps=128, hidden=256, layers=1)
LARGE = Shape(batch=64, steps=64, hidden=512, layers=2)


def torch_layer(kind: str, shape: Shape) -> Callable[[], nn.Module]:
    module = {"lstm": nn.LSTM, "gru": nn.GRU}[kind]
    return lambda: module(shape.hidden, shape.hidden, num_layers=shape.layers, batch_first=True)


def rnnkit_layer(cell: str, shape: Shape, backend: str) -> Callable[[], nn.Module]:
    return lambda: rnnkit.RNN(
        cell, shape.hidden, shape.hidden, num_layers=shape.layers, backend=backend
    )


class WithoutNativeKernels(nn.Module):
    """Runs a layer with ``RNNKIT_NATIVE=0``: its pure-torch kernels, for the same-run ratio."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor):
        before = os.environ.get("RNNKIT_NATIVE")
        os.environ["RNNKIT_NATIVE"] = "0"
        try:
            return self.layer(x)  # the kernel is chosen here; backward follows the choice
        finally:
            if before is None:
                del os.environ["RNNKIT_NATIVE"]
            else:
                os.environ["RNNKIT_NATIVE"] = before


def groups(compile_loops: bool) -> list[tuple[Shape, list[Candidate]]]:
    """The benchmark's rows, by shape; each group's baselines come first."""
    ln_backends = ["loop", "fused", "auto"] + (["compiled"] if compile_loops else [])
    small: list[Candidate] = [
        Candidate("lstm", "nn.LSTM", torch_layer("lstm", SMALL), "nn.LSTM"),
        Candidate("gru", "nn.GRU", torch_layer("gru", SMALL), "nn.GRU"),
        Candidate("lstm", "rnnkit lstm auto", rnnkit_layer("lstm", SMALL, "auto"), "nn.LSTM"),
        Candidate("gru", "rnnkit gru auto", rnnkit_layer("gru", SMALL, "auto"), "nn.GRU"),
    ]
    for cell in ("ln_lstm", "ln_gru"):
        small += [
            Candidate(cell, f"{cell} {b}", rnnkit_layer(cell, SMALL, b), "nn.LSTM")
            for b in ln_backends
        ]
        fused = rnnkit_layer(cell, SMALL, "fused")
        small.append(
            Candidate(
                cell, f"{cell} fused torch", lambda f=fused: WithoutNativeKernels(f()), "nn.LSTM"
            )
        )
    large = [
        Candidate("lstm", "nn.LSTM", torch_layer("lstm", LARGE), "nn.LSTM"),
        Candidate("gru", "nn.GRU", torch_layer("gru", LARGE), "nn.GRU"),
        Candidate("lstm", "rnnkit lstm auto", rnnkit_layer("lstm", LARGE, "auto"), "nn.LSTM"),
        Candidate("gru", "rnnkit gru auto", rnnkit_layer("gru", LARGE, "auto"), "nn.GRU"),
    ]
    return [(SMALL, small), (LARGE, large)]


def selected(candidates: list[Candidate], only: str | None) -> list[Candidate]:
    """The rows ``--only`` asks for, together with the baselines they are compared with."""
    if only is None:
        return candidates
    wanted = [c for c in candidates if c.name == only]
    baselines = {c.baseline for c in wanted}
    return [c for c in candidates if c in wanted or c.label in baselines]


def forward_seconds(model: nn.Module, x: torch.Tensor, iterations: int) -> float:
    """Seconds per inference-mode forward pass, averaged over ``iterations``."""
    with torch.inference_mode():
        start = time.perf_counter()
        for _ in range(iterations):
            model(x)
        return (time.perf_counter() - start) / iterations


def train_seconds(
    model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, iterations: int
) -> float:
    """Seconds per training step (forward, backward of a mean-square loss, Adam step)."""
    start = time.perf_counter()
    for _ in range(iterations):
        optimizer.zero_grad(set_to_none=True)
        output, _ = model(x)
        output.square().mean().backward()
        optimizer.step()
    return (time.perf_counter() - start) / iterations


def measure(shape: Shape, candidates: list[Candidate], rounds: int) -> dict[str, Timing]:
    """Per candidate, one forward and one training step's time in each of ``rounds`` rounds;
    within a round the candidates run one after another."""
    torch.manual_seed(0)
    x = torch.randn(shape.batch, shape.steps, shape.hidden)
    models = {c.label: c.build() for c in candidates}
    optimizers = {label: torch.optim.Adam(m.parameters(), lr=1e-3) for label, m in models.items()}
    timings = {label: Timing() for label in models}
    for label, model in models.items():  # warm-up: first-call allocations, lazy initialisation
        forward_seconds(model, x, 1)
        train_seconds(model, optimizers[label], x, 1)
    for _ in range(rounds):
        for label, model in models.items():
            timings[label].forward.append(forward_seconds(model, x, 1))
            timings[label].train.append(train_seconds(model, optimizers[label], x, 1))
    return timings


def print_table(shape: Shape, candidates: list[Candidate], timings: dict[str, Timing]) -> None:
    header = f"{'layer':<20} {'fwd tok/s':>10} {'ratio':>6} {'train tok/s':>12} {'ratio':>6}  vs"
    rounds = len(next(iter(timings.values())).train)
    print(f"\n{shape}  ({torch.get_num_threads()} threads, median of {rounds} rounds)")
    print(header)
    print("-" * len(header))
    for candidate in candidates:
        own, base = timings[candidate.label], timings[candidate.baseline]
        fwd, train = shape.tokens / own.forward_s, shape.tokens / own.train_s
        fwd_ratio, train_ratio = base.forward_s / own.forward_s, base.train_s / own.train_s
        print(
            f"{candidate.label:<20} {fwd:>10.0f} {fwd_ratio:>6.2f} {train:>12.0f} "
            f"{train_ratio:>6.2f}  {candidate.baseline}"
        )


def run_mingru(quick: bool) -> None:
    """The minGRU/minLSTM benchmark beside this file, when it exists."""
    path = Path(__file__).with_name("mingru.py")
    if not path.exists():
        return
    spec = importlib.util.spec_from_file_location("benchmark_mingru", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    print(f"\n--- {path.name} ---")
    module.main(quick)


def main(
    quick: bool = False, only: str | None = None, compile_loops: bool = False, rounds: int = 10
) -> None:
    rounds = 2 if quick else rounds
    for shape, candidates in groups(compile_loops):
        rows = selected(candidates, only)
        if not rows:
            continue
        print_table(shape, rows, measure(shape, rows, rounds))
    if only in (None, "mingru"):
        run_mingru(quick)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few iterations, for a smoke run")
    parser.add_argument(
        "--only",
        choices=["lstm", "gru", "ln_lstm", "ln_gru", "mingru"],
        help="run one row group (with its baseline)",
    )
    parser.add_argument(
        "--compile", action="store_true", help="also time the 'compiled' backend (slow to build)"
    )
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds (median reported)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    main(quick=args.quick, only=args.only, compile_loops=args.compile, rounds=args.rounds)
