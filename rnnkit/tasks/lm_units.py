"""Which hidden units of a character language model track quotes, brackets or line position.

Karpathy, Johnson & Fei-Fei (2015), "Visualizing and understanding recurrent networks", found
single LSTM cells that switch on inside quotes, count bracket depth or the position in a line.
This module finds such units in an lm run: it reads a text (the run's validation text by
default), takes every layer's hidden state after each character (``hidden_states``), computes
each signal per character (``signals``), and ranks the units by the absolute Pearson correlation
of their activation with the signal (``top_units``).

Signals, each the value after reading character ``t``:

- ``quotes``: 1 inside a double-quoted span (the opening quote included, the closing one not);
- ``brackets``: the nesting depth of ``( [ {`` (a closer without an opener is ignored);
- ``line_position``: characters since the last newline (0 on the newline itself).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from rnnkit.errors import UserError
from rnnkit.tasks.lm_sampling import LoadedLM, hidden_of

SIGNALS = ("quotes", "brackets", "line_position")
OPENERS, CLOSERS = "([{", ")]}"
#: the longest text read to rank units: enough characters for stable correlations, bounded time
MAX_CHARACTERS = 20_000
#: parallel streams the text is read as (each starts from a zero state)
STREAMS = 16


def signals(text: str) -> dict[str, np.ndarray]:
    """Each signal of ``SIGNALS`` as a float array ``(len(text),)``."""
    quotes, brackets, position = (np.zeros(len(text)) for _ in range(3))
    inside, depth, column = False, 0, 0
    for t, char in enumerate(text):
        if char == '"':
            inside = not inside
        if char in OPENERS:
            depth += 1
        elif char in CLOSERS:
            depth = max(0, depth - 1)
        column = 0 if char == "\n" else column + 1
        quotes[t], brackets[t], position[t] = float(inside), depth, column
    return {"quotes": quotes, "brackets": brackets, "line_position": position}


def hidden_states(loaded: LoadedLM, ids: Tensor, streams: int = 1) -> Tensor:
    """Hidden state after each token of ``ids (N,)`` -> ``(N', L * H)``, every layer's ``h``.

    The ids are cut into ``streams`` parallel streams read together (each from a zero state);
    ``N'`` is ``N`` rounded down to a multiple of ``streams``.
    """
    streams = max(1, min(streams, ids.numel()))
    per_stream = ids.numel() // streams
    grid = ids[: per_stream * streams].view(streams, per_stream)  # (S, N / S)
    state, columns = None, []
    with torch.inference_mode():
        for column in grid.unbind(1):
            _, state = loaded.model.features(column[:, None], state)
            columns.append(hidden_of(state))  # (S, L * H)
    if not columns:
        return torch.zeros(0, loaded.num_units)
    return torch.stack(columns, dim=1).flatten(0, 1)  # (S * N / S, L * H), text order


def activations(loaded: LoadedLM, text: str, units: list[int]) -> tuple[list[str], np.ndarray]:
    """Each character (token) of ``text`` and the activations ``(tokens, len(units))`` of
    ``units`` after reading it, read in one stream from the start."""
    loaded.check_units(units)
    ids = loaded.tokenizer.encode(text)
    if not ids:
        raise UserError("the text is empty; give the text to read.")
    hidden = hidden_states(loaded, torch.tensor(ids))
    pieces = [loaded.tokenizer.decode([i]) for i in ids]
    return pieces, hidden[:, units].numpy()


@dataclass
class UnitCorrelation:
    """A unit (layer-major index, its layer and index in the layer) and its correlation."""

    unit: int
    layer: int
    index: int
    correlation: float


def correlations(hidden: np.ndarray, signal: np.ndarray) -> np.ndarray:
    """Pearson correlation of each column of ``hidden (T, U)`` with ``signal (T,)`` -> ``(U,)``;
    0 for a constant column."""
    hidden, signal = hidden.astype(np.float64), signal.astype(np.float64)
    h = hidden - hidden.mean(axis=0)
    s = signal - signal.mean()
    denominator = np.sqrt((h * h).sum(axis=0) * (s * s).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (h * s[:, None]).sum(axis=0) / denominator
    return np.where(denominator > 0, r, 0.0)


def top_units(loaded: LoadedLM, text: str, signal: str, count: int = 10) -> list[UnitCorrelation]:
    """The ``count`` units whose activation over ``text`` correlates most (in absolute value)
    with ``signal``; ``UserError`` for a word-level run, an unknown signal or a text in which the
    signal never changes."""
    if signal not in SIGNALS:
        raise UserError(f"signal {signal!r} is not known; use one of {', '.join(SIGNALS)}.")
    if loaded.tokenizer.kind != "char":
        raise UserError(
            f"{loaded.path} reads {loaded.tokenizer.kind} tokens; unit search needs a char run."
        )
    text = text[:MAX_CHARACTERS]
    ids = torch.tensor(loaded.tokenizer.encode(text))
    hidden = hidden_states(loaded, ids, STREAMS).numpy()
    values = signals(text)[signal][: hidden.shape[0]]
    if values.size < 2 or np.all(values == values[0]):
        raise UserError(f"the text never changes the {signal} signal; give a text that does.")
    r = correlations(hidden, values)
    width = loaded.num_units // len(loaded.model.rnn.cells)
    order = np.argsort(-np.abs(r))[:count]
    return [UnitCorrelation(int(u), int(u) // width, int(u) % width, float(r[u])) for u in order]
