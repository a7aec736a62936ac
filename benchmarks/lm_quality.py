"""Language-model quality in a fixed time: ``rnnkit train lm`` defaults against a hand-written loop.

Both train a character-level model on the first 90% of a text for the same budget and report the
validation loss (nats per character) on the last 10%. The budget is wall-clock time, or with
``--clock cpu`` this process's CPU time (every thread), the fair measure on a shared machine: the
plain loop checks ``time.process_time()`` and rnnkit runs with ``--clock cpu``. Each row shows
the CPU and wall seconds the model actually took.

- the plain loop: ``nn.Embedding``, a 2 x 512 ``nn.LSTM`` with dropout 0.2, ``nn.Linear``; AdamW at
  2e-3 with a cosine schedule over the budget, bf16 autocast where the CPU has bf16 instructions,
  B=64 streams of T=128 steps, gradient clipping at 1.0 (the loop the issue describes);
- rnnkit: ``rnnkit train lm --data FILE --time-limit BUDGET [--clock cpu]``, every other option at
  its default, or as ``--set option=value`` (repeatable, ``LMOptions`` field names) says for a
  variant.

    python benchmarks/lm_quality.py --time-limit 10m --clock cpu      # tiny Shakespeare
    python benchmarks/lm_quality.py --time-limit 10m --only plain
    python benchmarks/lm_quality.py --time-limit 10m --clock cpu --only rnnkit --set dropout=0

The two run one after the other in the same process, so the machine's state is as alike as it gets;
with ``--parallel`` they run at the same time in two processes, each on its own CPU-time budget
(half the wall time on a busy machine, and both see the same load).
"""

from __future__ import annotations

import argparse
import csv
import math
import multiprocessing
import resource
import tempfile
import time
import types
import typing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnkit.cpu import bf16_flags
from rnnkit.tasks import lm
from rnnkit.training import parse_duration, preferred_precision

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/tinyshakespeare/input.txt"


class CharLSTM(nn.Module):
    def __init__(self, vocab: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, hidden)
        self.lstm = nn.LSTM(hidden, hidden, layers, dropout=dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.decoder = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        output, state = self.lstm(self.dropout(self.embedding(x)), state)
        return self.decoder(self.dropout(output)), state


def as_streams(ids: torch.Tensor, batch: int) -> torch.Tensor:
    """``(N,) -> (batch, N // batch)``: parallel streams for truncated BPTT."""
    return ids[: (len(ids) // batch) * batch].view(batch, -1)


@torch.no_grad()
def stream_loss(model: CharLSTM, ids: torch.Tensor, bptt: int, autocast: bool) -> float:
    """Mean next-character loss over ``ids``, 16 streams, state carried across chunks."""
    model.eval()
    streams = as_streams(ids, 16)
    state, total, count = None, 0.0, 0
    for start in range(0, streams.shape[1] - 1, bptt):
        x = streams[:, start : start + bptt]
        y = streams[:, start + 1 : start + bptt + 1]
        x = x[:, : y.shape[1]]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            logits, state = model(x, state)
        flat = logits.float().flatten(0, 1)
        loss = nn.functional.cross_entropy(flat, y.flatten(), reduction="sum")
        total, count = total + float(loss), count + y.numel()
    model.train()
    return total / count


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (every thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def plain_loop(
    train: torch.Tensor,
    val: torch.Tensor,
    vocab: int,
    seconds: float,
    clock: str,
    curve_every: int = 0,
) -> tuple:
    """Train the hand-written loop for ``seconds`` on ``clock``; return (validation loss, steps,
    tokens per wall second). With ``curve_every`` > 0 it also prints the validation loss every
    that many steps, on stopped clocks (outside its budget), to show whether it still improves."""
    now = time.process_time if clock == "cpu" else time.perf_counter
    torch.manual_seed(0)
    batch, bptt, peak_lr = 64, 128, 2e-3
    autocast = preferred_precision() == "bf16"
    model = CharLSTM(vocab, 512, 2, 0.2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=peak_lr)
    streams = as_streams(train, batch)
    state, step, position = None, 0, 0
    began, wall_began = now(), time.perf_counter()
    while (elapsed := now() - began) < seconds:
        for group in optimizer.param_groups:  # cosine over the time budget
            group["lr"] = peak_lr * 0.5 * (1 + math.cos(math.pi * elapsed / seconds))
        if position + bptt + 1 > streams.shape[1]:
            position, state = 0, None
        x = streams[:, position : position + bptt]
        y = streams[:, position + 1 : position + bptt + 1]
        position += bptt
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            logits, state = model(x, state)
        loss = nn.functional.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        state = tuple(s.detach() for s in state)
        step += 1
        if curve_every and step % curve_every == 0:
            paused, wall_paused = now(), time.perf_counter()
            curve_loss = stream_loss(model, val, bptt, autocast)
            print(f"plain loop step {step}: validation {curve_loss:.4f}", flush=True)
            began, wall_began = (
                began + now() - paused,
                wall_began + time.perf_counter() - wall_paused,
            )
    tokens_per_s = step * batch * bptt / (time.perf_counter() - wall_began)
    return stream_loss(model, val, bptt, autocast), step, tokens_per_s


def last_level_cache() -> str:
    """The size of the CPU's largest cache as Linux reports it ("307200K"), or "unknown": with
    the bf16 flags it tells apart the CPUs whose 10 minutes buy different numbers of steps."""
    caches = sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"))
    try:
        by_level = {int((c / "level").read_text()): (c / "size").read_text() for c in caches}
    except (OSError, ValueError):
        return "unknown"
    return by_level[max(by_level)].strip() if by_level else "unknown"


def option_setting(text: str) -> tuple[str, Any]:
    """``"dropout=0"`` -> ``("dropout", 0.0)``: an ``LMOptions`` field and the text read as its
    declared type (``none`` for an optional field's None, ``true``/``false`` for a flag)."""
    name, equals, value = text.partition("=")
    name = name.strip().replace("-", "_")
    hints = typing.get_type_hints(lm.LMOptions)
    if not equals or name not in hints:
        raise SystemExit(f"--set takes option=value with an LMOptions field, got {text!r}")
    kinds = typing.get_args(hints[name]) if isinstance(hints[name], types.UnionType) else ()
    if value.lower() == "none" and type(None) in kinds:
        return name, None
    for kind in [k for k in kinds if k is not type(None)] or [hints[name]]:
        if kind is bool:
            if value.lower() in ("true", "false"):
                return name, value.lower() == "true"
        elif kind in (int, float):
            try:
                return name, kind(value)
            except ValueError:
                continue
        else:
            return name, value
    raise SystemExit(f"--set {name}: {value!r} is not a {hints[name]}")


def rnnkit_defaults(
    data: Path, seconds: float, out: Path, clock: str, settings: dict[str, Any]
) -> tuple:
    """``rnnkit train lm`` with its defaults, or ``settings`` where given; return (val loss of
    the kept weights, steps, tokens per wall second)."""
    given = {"data": data, "out": out, "time_limit": seconds, "clock": clock, "progress": "plain"}
    options = lm.LMOptions(**(given | settings))
    began = time.perf_counter()
    lm.train(options)
    wall = time.perf_counter() - began
    with open(out / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    losses = [float(r["val_loss"]) for r in rows if r["val_loss"]]
    steps = int(rows[-1]["step"])
    return min(losses), steps, steps * options.batch_size * options.bptt / wall


def rnnkit_in_scratch(data: Path, seconds: float, clock: str, settings: dict[str, Any]) -> tuple:
    """``rnnkit_defaults`` into a temporary run directory, removed afterwards."""
    with tempfile.TemporaryDirectory() as scratch:
        return rnnkit_defaults(data, seconds, Path(scratch) / "run", clock, settings)


def measured(function, *args) -> tuple:
    """``function(*args)``'s result, then the CPU and wall seconds it took."""
    cpu, wall = cpu_seconds(), time.perf_counter()
    result = function(*args)
    return (*result, cpu_seconds() - cpu, time.perf_counter() - wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--time-limit", default="10m")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    parser.add_argument("--only", choices=["plain", "rnnkit"], default=None)
    parser.add_argument(
        "--parallel", action="store_true", help="run both at once, in two processes"
    )
    parser.add_argument(
        "--plain-curve",
        type=int,
        default=0,
        metavar="STEPS",
        help="print the plain loop's validation loss every STEPS steps (outside its budget)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="OPTION=VALUE",
        help="an rnnkit lm option other than its default (repeatable), e.g. dropout=0",
    )
    args = parser.parse_args()
    settings = dict(option_setting(text) for text in args.set)
    seconds = parse_duration(args.time_limit)
    text = args.data.read_text(encoding="utf-8")
    symbols = sorted(set(text))
    index = {s: i for i, s in enumerate(symbols)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.long)
    split = int(len(ids) * 0.9)
    jobs = {}
    if args.only in (None, "plain"):
        plain_args = (ids[:split], ids[split:], len(symbols), seconds, args.clock, args.plain_curve)
        jobs["plain loop (nn.LSTM)"] = (plain_loop, *plain_args)
    if args.only in (None, "rnnkit"):
        jobs["rnnkit train lm"] = (rnnkit_in_scratch, args.data, seconds, args.clock, settings)
    if args.parallel:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(len(jobs), mp_context=context) as pool:
            futures = {name: pool.submit(measured, *job) for name, job in jobs.items()}
            results = {name: future.result() for name, future in futures.items()}
    else:
        results = {name: measured(*job) for name, job in jobs.items()}
    threads = torch.get_num_threads()
    print(f"\n{args.data.name}, {args.time_limit} of {args.clock} time each, {threads} threads")
    print(f"CPU bf16 flags: {bf16_flags()}; largest cache: {last_level_cache()}")
    if settings:
        print(
            "rnnkit options: "
            + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in settings.items())
        )
    print(
        f"{'':<24}{'val nats/char':>14}{'bpc':>8}{'steps':>8}{'tok/s':>10}{'cpu s':>8}{'wall s':>8}"
    )
    for name, (loss, steps, rate, cpu, wall) in results.items():
        print(
            f"{name:<24}{loss:>14.4f}{loss / math.log(2):>8.3f}{steps:>8}{rate:>10,.0f}"
            f"{cpu:>8.0f}{wall:>8.0f}"
        )
    if len(results) == 2:
        (plain_loss, *_), (rnnkit_loss, *_) = results.values()
        print(f"rnnkit gains {plain_loss - rnnkit_loss:+.4f} nats/char over the plain loop")


if __name__ == "__main__":
    main()
