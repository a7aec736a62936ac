"""Generation speed at batch 1: ``LanguageModel.generate`` against per-step loops around torch.

Every row generates from the same weights (by default a 2 x 512 character model over 65 symbols,
embedding 512) with temperature-1 sampling and one ``int(...)`` per character, as a streaming CLI
does:

- ``nn.LSTMCell per step``: ``nn.Embedding``, one ``nn.LSTMCell`` per layer, ``nn.Linear``,
  ``torch.multinomial`` (``nn.LSTM`` called once per step, about 10x slower still, with
  ``--nn-lstm``);
- ``torch stepper``: ``generate`` with the native kernel off (``RNNKIT_NATIVE=0``), the path
  every cell has, and what ``generate`` ran before the kernel;
- ``generate float32 | bf16 | int8``: ``generate(weights=...)`` through the C kernel
  (``rnnkit/native/stepping.c``);
- ``kernel float32 | bf16 | int8``: ``NativeStepper.step`` alone, without sampling: the kernel's
  own rate (``generate`` adds the draw of each character, about 40 us).

At batch 1 a step reads every weight it uses once, so its speed is bounded by how fast the weights
stream from cache: the ``MB/step`` column is what one step reads (the first layer's input product
is a table lookup), ``GB/s`` that times the steps per CPU-second, and ``bound`` the chars/s a
step would reach if it took only the time to read its bytes at the bandwidth one thread gets here
for that many bytes (``torch.sum`` over a buffer of the row's step size, read just before, so
resident in cache where it fits, as the weights are from one step to the next; median of 30
reads, measured in the same run). ``--cells`` repeats the comparison for every cell kind.

The rows take turns for ``--repeats`` rounds and each reports its median; ratios are against the
torch stepper measured in the same run. Rates are given per wall second and per CPU second of
this process (on a shared machine the second is steadier); the header gives the load average
and the CPU's vector flags. Run with one thread:
``OMP_NUM_THREADS=1 python benchmarks/generation.py [--cells] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from rnnkit.cpu import cpu_flags
from rnnkit.models import LanguageModel
from rnnkit.models.stepping import NativeStepper, step_bytes

CELLS = ("lstm", "gru", "rnn", "ln_lstm", "ln_gru", "mingru", "minlstm")


@dataclass
class Row:
    name: str
    run: Callable[[], None]
    bytes_per_step: int
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def time(self, length: int) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.run()
        self.wall.append(length / (time.perf_counter() - wall))
        self.cpu.append(length / max(time.process_time() - cpu, 1e-9))


@contextmanager
def native_kernel(on: bool):
    """Run the block with rnnkit's native kernels on or off (``RNNKIT_NATIVE``)."""
    before = os.environ.get("RNNKIT_NATIVE")
    os.environ["RNNKIT_NATIVE"] = "1" if on else "0"
    try:
        yield
    finally:
        if before is None:
            del os.environ["RNNKIT_NATIVE"]
        else:
            os.environ["RNNKIT_NATIVE"] = before


def generate(model: LanguageModel, length: int, weights: str, native: bool) -> None:
    generator = torch.Generator().manual_seed(0)
    with native_kernel(native):
        for _ in model.generate([0], length, generator=generator, weights=weights):
            pass


def kernel_steps(model: LanguageModel, length: int, weights: str) -> Callable[[], None]:
    """``length`` steps of a ``NativeStepper`` alone (the tokens cycle through the vocabulary)."""
    with torch.inference_mode():
        stepper = NativeStepper(model, weights)

    def run() -> None:
        with torch.inference_mode():
            stepper.start(model.initial_state(1))
            for t in range(length):
                stepper.step(t % model.vocab_size)

    return run


def lstm_cell_loop(model: LanguageModel, length: int, use_layer: bool) -> Callable[[], None]:
    """Baselines around torch's modules: ``nn.LSTMCell`` per layer, or ``nn.LSTM`` per step."""
    lstm = model.rnn.to_torch().eval()
    embedding = nn.Embedding.from_pretrained(model.embedding.weight.detach().clone())
    decoder = nn.Linear(model.decoder.in_features, model.vocab_size)
    decoder.load_state_dict(model.decoder.state_dict())
    cells = []
    for layer in range(lstm.num_layers):
        cell = nn.LSTMCell(lstm.input_size if layer == 0 else lstm.hidden_size, lstm.hidden_size)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(cell, name).copy_(getattr(lstm, f"{name}_l{layer}"))
        cells.append(cell)

    def run() -> None:
        generator = torch.Generator().manual_seed(0)
        token = torch.zeros(1, dtype=torch.long)
        states: list = [None] * len(cells)
        layer_state = None
        with torch.inference_mode():
            for _ in range(length):
                x = embedding(token)
                if use_layer:
                    output, layer_state = lstm(x.unsqueeze(1), layer_state)
                    x = output[:, -1]
                else:
                    for layer, cell in enumerate(cells):
                        states[layer] = cell(x, states[layer])
                        x = states[layer][0]
                probs = torch.softmax(decoder(x), dim=-1)
                token = torch.multinomial(probs, 1, generator=generator).view(1)
                int(token)

    return run


def rows_for(model: LanguageModel, length: int, baselines: bool, nn_lstm: bool) -> list[Row]:
    rows = []
    if baselines and model.rnn.cells[0].__class__.__name__ == "LSTMCell":
        rows.append(
            Row("nn.LSTMCell per step", lstm_cell_loop(model, length, False), step_bytes(model))
        )
        if nn_lstm:
            rows.append(
                Row("nn.LSTM per step", lstm_cell_loop(model, length, True), step_bytes(model))
            )
    rows.append(
        Row(
            "torch stepper",
            lambda: generate(model, length, "float32", native=False),
            step_bytes(model),
        )
    )
    if NativeStepper.supports(model):
        for weights in ("float32", "bf16", "int8"):
            rows.append(
                Row(
                    f"generate {weights}",
                    lambda w=weights: generate(model, length, w, native=True),
                    step_bytes(model, weights),
                )
            )
        for weights in ("float32", "bf16", "int8"):
            rows.append(
                Row(
                    f"kernel {weights}",
                    kernel_steps(model, length, weights),
                    step_bytes(model, weights),
                )
            )
    return rows


def measure(rows: list[Row], length: int, repeats: int) -> None:
    for row in rows:  # warm-up
        row.time(length // 4 or 1)
        row.wall.clear()
        row.cpu.clear()
    for _ in range(repeats):
        for row in rows:
            row.time(length)


def read_bandwidth(size: int, repeats: int = 30) -> float:
    """Bytes per CPU-second at which one thread reads ``size`` bytes it read just before (from
    cache where they fit): ``torch.sum`` over a float32 buffer of that size, the median of
    ``repeats`` reads."""
    buffer = torch.ones(max(size // 4, 1))
    buffer.sum()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        buffer.sum()
        times.append(time.process_time() - start)
    return buffer.numel() * 4 / max(statistics.median(times), 1e-9)


def report(title: str, rows: list[Row]) -> None:
    """The table; ``bound``: chars/s if a step took only the time to read its bytes at the
    bandwidth ``read_bandwidth`` measures for that many bytes."""
    bandwidths = {size: read_bandwidth(size) for size in sorted({r.bytes_per_step for r in rows})}
    print(
        f"{title} (one thread reads "
        + ", ".join(f"{b / 1e9:.1f} GB/s from {s / 1e6:.1f} MB" for s, b in bandwidths.items())
        + ")"
    )
    baseline = statistics.median(next(r for r in rows if r.name == "torch stepper").cpu)
    header = f"{'path':<24}{'chars/s':>9}{'chars/CPU-s':>13}{'ratio':>7}{'MB/step':>9}{'GB/s':>7}"
    print(f"  {header}{'bound':>8}{'of bound':>10}")
    for row in rows:
        wall, cpu = statistics.median(row.wall), statistics.median(row.cpu)
        megabytes = row.bytes_per_step / 1e6
        bound = bandwidths[row.bytes_per_step] / row.bytes_per_step
        print(
            f"  {row.name:<24}{wall:>9.0f}{cpu:>13.0f}{cpu / baseline:>7.2f}"
            f"{megabytes:>9.2f}{megabytes * cpu / 1e3:>7.1f}{bound:>8.0f}{cpu / bound:>10.0%}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=65)
    parser.add_argument("--embedding-size", type=int, default=512)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--length", type=int, default=1000, help="characters per timing")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: default)")
    parser.add_argument("--cells", action="store_true", help="every cell kind, not only lstm")
    parser.add_argument("--nn-lstm", action="store_true", help="add the nn.LSTM-per-step row")
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer characters")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    length, repeats = (200, 2) if args.quick else (args.length, args.repeats)
    vector = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile")
    flags = sorted(f for f in cpu_flags() if f in vector)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{args.layers} x {args.hidden} character models, embedding {args.embedding_size}, "
        f"vocab {args.vocab}, batch 1, {torch.get_num_threads()} thread(s), median of {repeats} "
        f"x {length} characters; CPU flags: {' '.join(flags) or 'none'}; load average {load} "
        f"on {os.cpu_count()} CPUs"
    )
    for cell in CELLS if args.cells else ("lstm",):
        torch.manual_seed(0)
        model = LanguageModel(
            args.vocab, args.embedding_size, args.hidden, args.layers, cell=cell
        ).eval()
        rows = rows_for(model, length, baselines=not args.cells, nn_lstm=args.nn_lstm)
        measure(rows, length, repeats)
        report(f"cell {cell}", rows)


if __name__ == "__main__":
    main()
