"""Training speed of ``rnnkit train lm`` against a plain PyTorch loop, and bf16 against fp32.

Both sides train the same character-level model (embedding, ``L x H`` LSTM, linear output) on the
same stream batches (``B`` streams of ``T`` steps), with AdamW and gradient clipping at 1.0, in
the same process, interleaved: first the plain loop around ``nn.LSTM``, then rnnkit's whole
training engine (``rnnkit.tasks.lm.train`` with ``--max-steps``), whose per-step throughput is read
from its ``metrics.csv``. Dropout is off on both sides so they do the same arithmetic.

    python benchmarks/lm_training.py                        # tiny Shakespeare, 2 x 512, B=64, T=128
    python benchmarks/lm_training.py --steps 10 --hidden 128  # a quick smoke run

The plain loop's first steps are warm-up and not timed; for rnnkit the first logged steps are
dropped the same way. Quality (bf16's validation loss against fp32's after the same number of
steps, on the last 10% of the file) is printed when ``--quality-steps`` is given.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from rnnkit.tasks import lm

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/tinyshakespeare/input.txt"
WARMUP_STEPS = 3


def plain_loop_tokens_per_s(
    ids: torch.Tensor, vocab: int, args: argparse.Namespace, precision: str
) -> float:
    """Tokens/s of a hand-written truncated-BPTT loop around ``nn.LSTM``."""
    torch.manual_seed(0)
    embedding = nn.Embedding(vocab, args.hidden)
    lstm = nn.LSTM(args.hidden, args.hidden, args.layers, batch_first=True)
    decoder = nn.Linear(args.hidden, vocab)
    params = [*embedding.parameters(), *lstm.parameters(), *decoder.parameters()]
    optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.1)
    streams = ids[: (len(ids) // args.batch_size) * args.batch_size].view(args.batch_size, -1)
    state = None
    times = []
    for step in range(WARMUP_STEPS + args.steps):
        start = step * args.bptt % (streams.shape[1] - args.bptt - 1)
        x = streams[:, start : start + args.bptt]
        y = streams[:, start + 1 : start + args.bptt + 1]
        began = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            output, state = lstm(embedding(x), state)
            logits = decoder(output)
        loss = nn.functional.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        state = tuple(s.detach() for s in state)
        if step >= WARMUP_STEPS:
            times.append(time.perf_counter() - began)
    return args.batch_size * args.bptt / statistics.median(times)


def rnnkit_run(args: argparse.Namespace, precision: str, steps: int, out: Path) -> list[dict]:
    """Train with rnnkit's engine for ``steps`` steps; return the rows of its ``metrics.csv``."""
    options = lm.LMOptions(
        data=args.data, out=out, hidden=args.hidden, layers=args.layers,
        batch_size=args.batch_size, bptt=args.bptt, dropout=0.0, precision=precision,
        max_steps=steps, log_every=1, eval_every=10**9, progress="off", seed=0,
    )  # fmt: skip
    lm.train(options)
    with open(out / "metrics.csv", newline="") as file:
        return list(csv.DictReader(file))


def rnnkit_tokens_per_s(args: argparse.Namespace, precision: str, scratch: Path) -> float:
    rows = rnnkit_run(args, precision, WARMUP_STEPS + args.steps, scratch / f"speed-{precision}")
    rates = [float(r["items_per_s"]) for r in rows if r["items_per_s"]][WARMUP_STEPS:]
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--bptt", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--quality-steps", type=int, default=0,
        help="also train this many steps in fp32 and bf16 and compare validation losses",
    )  # fmt: skip
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    text = args.data.read_text(encoding="utf-8")
    symbols = sorted(set(text))
    index = {s: i for i, s in enumerate(symbols)}
    ids = torch.tensor([index[c] for c in text[: int(len(text) * 0.9)]], dtype=torch.long)
    shape = f"{args.layers}x{args.hidden} LSTM, B={args.batch_size}, T={args.bptt}"
    print(f"data {args.data.name}, {shape}, {torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        speed = {}
        print(f"{'precision':<10}{'plain loop tok/s':>18}{'rnnkit tok/s':>15}{'ratio':>8}")
        for precision in ("fp32", "bf16"):
            plain = plain_loop_tokens_per_s(ids, len(symbols), args, precision)
            ours = rnnkit_tokens_per_s(args, precision, scratch)
            speed[precision] = ours
            print(f"{precision:<10}{plain:>18,.0f}{ours:>15,.0f}{ours / plain:>8.2f}")
        print(f"rnnkit bf16 / fp32 tokens/s: {speed['bf16'] / speed['fp32']:.2f}")
        if args.quality_steps:
            losses = {}
            for precision in ("fp32", "bf16"):
                rows = rnnkit_run(
                    args, precision, args.quality_steps, scratch / f"quality-{precision}"
                )
                losses[precision] = float([r for r in rows if r["val_loss"]][-1]["val_loss"])
            change = losses["bf16"] / losses["fp32"] - 1
            print(
                f"after {args.quality_steps} steps, validation loss (last 10%): fp32 "
                f"{losses['fp32']:.4f}, bf16 {losses['bf16']:.4f} ({change:+.2%})"
            )


if __name__ == "__main__":
    main()
