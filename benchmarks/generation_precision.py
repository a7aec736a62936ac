"""Reduced-precision generation on a trained model: validation loss and speed, float32/bf16/int8.

Trains ``rnnkit train lm`` with its defaults (a 2 x 512 character LSTM) on tiny Shakespeare for
``--time-limit`` (or takes ``--run RUN``), then, for each weight precision of ``rnnkit generate
--weights``:

- the loss (nats per character) on the first ``--chars`` characters of the run's validation text,
  fed one character at a time through the stepper that generation runs
  (``rnnkit.models.stepping.step_logits``), and its ratio to float32's; the float32 loss is also
  checked against ``forward`` on the same text (the plain path);
- generation speed: characters per CPU second of ``LanguageModel.generate`` (temperature 1),
  median of ``--repeats`` runs of ``--length`` characters, and the ratio to float32's in the same
  run.

Run: ``OMP_NUM_THREADS=1 python benchmarks/generation_precision.py [--time-limit 10m | --run RUN]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from rnnkit.cpu import cpu_flags
from rnnkit.models.stepping import WEIGHTS, step_logits
from rnnkit.tasks import lm

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tinyshakespeare"


def train(time_limit: str, data: Path) -> Path:
    out = Path(tempfile.mkdtemp(prefix="rnnkit-precision-")) / "run"
    return lm.train(
        lm.LMOptions(
            data=data / "input.txt", out=out, time_limit=time_limit, progress="off",
            device="cpu", seed=0, sample_length=0,
        )
    )  # fmt: skip


def chars_per_cpu_second(model, weights: str, length: int) -> float:
    generator = torch.Generator().manual_seed(0)
    start = time.process_time()
    for _ in model.generate([1], length, generator=generator, weights=weights):
        pass
    return length / max(time.process_time() - start, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="an lm run (default: train one)")
    parser.add_argument("--time-limit", default="10m", help="training budget when no --run")
    parser.add_argument("--data", type=Path, default=DATA, help="folder holding input.txt")
    parser.add_argument("--chars", type=int, default=5000, help="validation characters scored")
    parser.add_argument("--length", type=int, default=1000, help="characters per speed timing")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    run = args.run or train(args.time_limit, args.data)
    model, tokenizer, _ = lm.load_run(run)
    text = lm.validation_text(lm.TASK_SPEC.open(run))
    ids = tokenizer.encode(text)[: args.chars]
    target = torch.tensor(ids[1:])
    flags = sorted(f for f in cpu_flags() if f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16"))
    print(
        f"run {run}; {len(ids)} validation characters; 1 thread; CPU flags: "
        f"{' '.join(flags) or 'none'}"
    )
    with torch.no_grad():
        plain = F.cross_entropy(model(torch.tensor([ids]))[0][0, :-1], target).item()
    losses = {w: F.cross_entropy(step_logits(model, ids, w)[:-1], target).item() for w in WEIGHTS}
    speeds: dict[str, list[float]] = {w: [] for w in WEIGHTS}
    for w in WEIGHTS:  # warm-up: prepares each precision's weights once
        chars_per_cpu_second(model, w, 50)
    for _ in range(args.repeats):
        for w in WEIGHTS:
            speeds[w].append(chars_per_cpu_second(model, w, args.length))
    print(f"forward (plain path) loss {plain:.4f}")
    print(f"{'weights':<9}{'loss':>8}{'vs float32':>12}{'chars/CPU-s':>13}{'speed ratio':>13}")
    base_loss, base_speed = losses["float32"], statistics.median(speeds["float32"])
    for w in WEIGHTS:
        speed = statistics.median(speeds[w])
        print(
            f"{w:<9}{losses[w]:>8.4f}{losses[w] / base_loss - 1:>+12.2%}{speed:>13.0f}"
            f"{speed / base_speed:>13.2f}"
        )


if __name__ == "__main__":
    main()
