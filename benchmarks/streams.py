"""Many independent text streams: stepped together as one batch against one after another.

``--streams`` requests (default 1, 8 and 64) differ in prime, length (between half of and the
full ``--length``), temperature (0, 0.8 or 1), top-k (0 or 10) and top-p (1 or 0.9), each with
its own seed. Two ways to answer them all, from the same weights (a 2 x 512 character LSTM by
default, 1 thread):

- ``one at a time``: ``LanguageModel.generate`` per request, the batch-1 fast path of
  ``rnnkit generate`` (the native kernel, float32), requests in turn;
- ``batched``: ``rnnkit.tasks.lm_sampling.sample_many``, what ``rnnkit serve``'s dynamic batching
  runs: every live stream steps in one ``(B, 1)`` batch, each draws with its own settings
  (``sample_rows``), and a stream that has its tokens leaves the batch.

Both give each request the same text (checked here for the greedy ones). The table gives tokens
per second (all streams together), per wall and per CPU second, the median of ``--repeats``, and
the batched path's ratio to one-at-a-time measured in the same run.
Run: ``OMP_NUM_THREADS=1 python benchmarks/streams.py [--quick]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from rnnkit.cpu import cpu_flags
from rnnkit.data.tokenizers import CharTokenizer
from rnnkit.models import LanguageModel
from rnnkit.tasks.lm_sampling import LoadedLM, SampleRequest, sample_many

TEXT = "".join(f"line {i}: the quick brown fox jumps over the lazy dog.\n" for i in range(50))


def requests_for(count: int, length: int, seed: int) -> list[SampleRequest]:
    rng = random.Random(seed)
    return [
        SampleRequest(
            prime=TEXT[(start := rng.randrange(200)) : start + rng.randrange(1, 40)],
            length=rng.randint(length // 2, length),
            temperature=rng.choice([0.0, 0.8, 1.0]),
            top_k=rng.choice([0, 10]),
            top_p=rng.choice([1.0, 0.9]),
            seed=rng.randrange(10**6),
        )
        for _ in range(count)
    ]


def one_at_a_time(loaded: LoadedLM, requests: list[SampleRequest]) -> list[list[int]]:
    texts = []
    for r in requests:
        prime = loaded.tokenizer.encode(r.prime)
        generator = torch.Generator().manual_seed(r.seed)
        stream = loaded.model.generate(
            prime, r.length, r.temperature, r.top_k, r.top_p, generator=generator
        )
        texts.append(list(stream))
    return texts


def timed(run: Callable[[], object], tokens: int, wall: list[float], cpu: list[float]) -> object:
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    result = run()
    wall.append(tokens / (time.perf_counter() - start_wall))
    cpu.append(tokens / max(time.process_time() - start_cpu, 1e-9))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--length", type=int, default=200, help="longest stream, in tokens")
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="a smoke run: short streams")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    length, repeats = (40, 1) if args.quick else (args.length, args.repeats)

    tokenizer = CharTokenizer.train(TEXT)
    torch.manual_seed(0)
    model = LanguageModel(tokenizer.vocab_size, 64, args.hidden, args.layers, cell="lstm").eval()
    loaded = LoadedLM(model, tokenizer, {}, Path("."))
    flags = sorted(f for f in cpu_flags() if f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16"))
    print(
        f"{args.layers} x {args.hidden} character LSTM, {torch.get_num_threads()} thread(s), "
        f"streams of {length // 2}-{length} tokens, median of {repeats}; "
        f"CPU flags: {' '.join(flags) or 'none'}"
    )
    header = ["streams", "alone tok/s", "(per CPU-s)", "batched tok/s", "(per CPU-s)", "ratio"]
    print("".join(f"{h:>14}" for h in header))
    for count in args.streams:
        requests = requests_for(count, length, seed=count)
        tokens = sum(r.length for r in requests)
        walls: dict[str, list[float]] = {"alone": [], "batched": []}
        cpus: dict[str, list[float]] = {"alone": [], "batched": []}
        for _ in range(repeats):
            alone = timed(
                lambda r=requests: one_at_a_time(loaded, r), tokens, walls["alone"], cpus["alone"]
            )
            together = timed(
                lambda r=requests: sample_many(loaded, r), tokens, walls["batched"],
                cpus["batched"],
            )  # fmt: skip
        for r, ids, sample in zip(requests, alone, together, strict=True):
            if r.temperature == 0:
                assert tokenizer.decode(tokenizer.encode(r.prime) + ids)[len(r.prime) :] == (
                    sample.text
                ), "the batched path must give a greedy stream the text it gets alone"
        alone_rate, batched_rate = (statistics.median(cpus[k]) for k in ("alone", "batched"))
        row = [statistics.median(walls["alone"]), alone_rate, statistics.median(walls["batched"])]
        row += [batched_rate]
        print(
            f"{count:>14}"
            + "".join(f"{v:>14.0f}" for v in row)
            + f"{batched_rate / alone_rate:>14.2f}"
        )


if __name__ == "__main__":
    main()
