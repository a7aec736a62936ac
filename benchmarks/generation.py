"""Generation speed at batch 1: ``LanguageModel.generate`` against per-step loops around torch.

All three generate from the same weights (a character-level LSTM, by default 2 x 512 over 65
symbols) with temperature-1 sampling and one ``.item()`` per character, as a streaming CLI does.
The torch loops sample with ``torch.multinomial``; rnnkit with ``sample_next`` (part of its fast
path: an inverse-CDF draw, about 3x cheaper than ``torch.multinomial`` at batch 1).

- ``nn.LSTM`` per step: ``nn.Embedding``, ``nn.LSTM`` on a (1, 1, E) input, ``nn.Linear``;
- ``nn.LSTMCell`` per step: the same with one ``nn.LSTMCell`` per layer;
- ``LanguageModel.generate``: rnnkit's fast path.

Each is timed ``--repeats`` times, interleaved, and the median is reported with its ratio to the
``nn.LSTM`` loop measured in the same run. Run: ``python benchmarks/generation.py``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from rnnkit.models import LanguageModel


def lstm_loop(embedding: nn.Embedding, lstm: nn.LSTM, decoder: nn.Linear, length: int) -> None:
    """The baseline: the full ``nn.LSTM`` layer called once per generated character."""
    generator = torch.Generator().manual_seed(0)
    token = torch.zeros(1, 1, dtype=torch.long)
    state = None
    with torch.inference_mode():
        for _ in range(length):
            output, state = lstm(embedding(token), state)
            probs = torch.softmax(decoder(output[:, -1]), dim=-1)
            token = torch.multinomial(probs, 1, generator=generator)
            token.item()


def lstm_cell_loop(
    embedding: nn.Embedding, cells: list[nn.LSTMCell], decoder: nn.Linear, length: int
) -> None:
    """A stronger baseline: one ``nn.LSTMCell`` call per layer per character."""
    generator = torch.Generator().manual_seed(0)
    token = torch.zeros(1, dtype=torch.long)
    states = [None] * len(cells)
    with torch.inference_mode():
        for _ in range(length):
            x = embedding(token)
            for layer, cell in enumerate(cells):
                h, c = cell(x, states[layer])
                states[layer] = (h, c)
                x = h
            probs = torch.softmax(decoder(x), dim=-1)
            token = torch.multinomial(probs, 1, generator=generator).view(1)
            token.item()


def rnnkit_generate(model: LanguageModel, length: int) -> None:
    generator = torch.Generator().manual_seed(0)
    for _ in model.generate([0], length, temperature=1.0, generator=generator):
        pass


def cells_from_lstm(lstm: nn.LSTM) -> list[nn.LSTMCell]:
    cells = []
    for layer in range(lstm.num_layers):
        cell = nn.LSTMCell(lstm.input_size if layer == 0 else lstm.hidden_size, lstm.hidden_size)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(cell, name).copy_(getattr(lstm, f"{name}_l{layer}"))
        cells.append(cell)
    return cells


def median_rate(run: Callable[[], None], length: int, repeats: list[float]) -> None:
    start = time.perf_counter()
    run()
    repeats.append(length / (time.perf_counter() - start))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=65)
    parser.add_argument("--embedding-size", type=int, default=512)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--length", type=int, default=500, help="characters per timing")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    model = LanguageModel(
        args.vocab, args.embedding_size, args.hidden, args.layers, cell="lstm"
    ).eval()
    lstm = model.rnn.to_torch().eval()
    embedding = nn.Embedding.from_pretrained(model.embedding.weight.detach().clone())
    decoder = nn.Linear(model.decoder.in_features, args.vocab)
    decoder.load_state_dict(model.decoder.state_dict())
    cells = cells_from_lstm(lstm)

    runs: dict[str, Callable[[], None]] = {
        "nn.LSTM per step": lambda: lstm_loop(embedding, lstm, decoder, args.length),
        "nn.LSTMCell per step": lambda: lstm_cell_loop(embedding, cells, decoder, args.length),
        "LanguageModel.generate": lambda: rnnkit_generate(model, args.length),
    }
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():  # warm-up
        run()
    for _ in range(args.repeats):
        for name, run in runs.items():
            median_rate(run, args.length, rates[name])

    print(
        f"char LSTM {args.layers}x{args.hidden}, embedding {args.embedding_size}, "
        f"vocab {args.vocab}, batch 1, {torch.get_num_threads()} threads, "
        f"median of {args.repeats} x {args.length} characters"
    )
    baseline = statistics.median(rates["nn.LSTM per step"])
    print(f"{'method':<26}{'chars/s':>10}{'ratio':>8}")
    for name, values in rates.items():
        rate = statistics.median(values)
        print(f"{name:<26}{rate:>10.0f}{rate / baseline:>8.2f}")


if __name__ == "__main__":
    main()
