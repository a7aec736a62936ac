"""Sampling from a loaded lm run for many primes at once, with each step's hidden state.

``rnnkit generate`` samples one text through ``rnnkit.tasks.lm.generate`` (the batch-1 fast path
of ``LanguageModel.generate``). A server answering many clients samples their texts together:
``sample_steps`` primes each request on its own, then steps all of them as one batch through the
model's cells (``rnnkit.models.stepping.BatchStepper``), drawing each row's token with its own
settings and seeded generator (``sample_rows``, one batched draw), so a request gives the same
text alone or in a batch (greedy sampling gives exactly the text of ``lm.generate``; a seeded
one the same draws from the same probabilities). A request that has all its tokens leaves the
batch, so streams of different lengths cost only their own steps. Every sampled token is fed
back, and the hidden state after reading it (every layer's ``h``, layer-major, ``L * H``
values) is that token's activation, as in Karpathy et al. (2015), "Visualizing and
understanding recurrent networks".

Settings are checked and prime/unknown-token rules applied exactly as ``lm.generate`` does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rnnkit.data.tokenizers import Tokenizer
from rnnkit.decoding.sampling import sample_rows
from rnnkit.errors import UserError
from rnnkit.layers.recurrent import as_tuple, from_tuple
from rnnkit.models import LanguageModel
from rnnkit.models.stepping import BatchStepper
from rnnkit.tasks import lm


@dataclass
class SampleRequest:
    """One text to sample: ``length`` tokens after ``prime``, drawn as ``lm.generate`` draws."""

    prime: str = ""
    length: int = 200
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None
    units: Sequence[int] = ()  # hidden units whose activation to report with each piece

    def check(self) -> SampleRequest:
        """``UserError`` naming the first setting out of range; returns ``self``."""
        lm.check_sampling(self.length, self.temperature, self.top_k, self.top_p)
        return self


@dataclass
class Piece:
    """The text one sampled token adds (may be empty while a token is held back) and the
    activations ``(len(units),)`` of the requested units after reading it."""

    text: str
    activations: list[float]


@dataclass
class Sample:
    """A sampled text: its pieces, in order, and their activations."""

    pieces: list[Piece] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(piece.text for piece in self.pieces)


@dataclass
class LoadedLM:
    """An lm run loaded once for many samples: model (eval mode, CPU), tokenizer, config."""

    model: LanguageModel
    tokenizer: Tokenizer
    config: dict[str, Any]
    path: Path

    @classmethod
    def open(cls, run_dir: str | Path) -> LoadedLM:
        model, tokenizer, config = lm.load_run(run_dir)
        lm.prepare_for_sampling(model, tokenizer)
        return cls(model, tokenizer, config, Path(run_dir))

    @property
    def num_units(self) -> int:
        """``L * H``: the hidden units reported, every layer's, layer-major."""
        rnn = self.model.rnn
        return len(rnn.cells) * rnn.cells[0].output_size

    def check_units(self, units: Sequence[int]) -> None:
        """``UserError`` naming the first unit that is not one of ``0 .. num_units - 1``."""
        bad = [u for u in units if not 0 <= u < self.num_units]
        if bad:
            raise UserError(f"unit {bad[0]} does not exist; units are 0..{self.num_units - 1}.")


def hidden_of(state: Any) -> Tensor:
    """Every layer's ``h`` of a state in torch's layout -> ``(B, L * H)``, layer-major."""
    h = as_tuple(state)[0]  # (L, B, H)
    return h.transpose(0, 1).flatten(1)


def sample_steps(
    loaded: LoadedLM, requests: Sequence[SampleRequest]
) -> Iterator[list[Piece | None]]:
    """Sample every request in one batch; yield, at each step, one ``Piece`` per request (None
    for a request that has all its tokens). Stops after the longest request."""
    for request in requests:
        request.check()
        loaded.check_units(request.units)
    model, tokenizer = loaded.model, loaded.tokenizer
    primes = [lm.encode_prime(tokenizer, loaded.config, r.prime) for r in requests]
    generators = [lm.seeded_generator(r.seed) for r in requests]
    streams = [lm.TextStream(tokenizer, context=ids) for ids in primes]
    units = [torch.tensor(list(r.units), dtype=torch.long) for r in requests]
    longest = max((r.length for r in requests), default=0)
    with torch.inference_mode():
        logits, state = _prime(model, primes)
        stepper = BatchStepper(model)
        stepper.start(state)
    reports_units = any(len(u) for u in units)
    live = list(range(len(requests)))  # the requests still sampling: the batch's rows, in order
    for step in range(longest):
        with torch.inference_mode():
            rows = [requests[i] for i in live]
            tokens = sample_rows(
                logits, [r.temperature for r in rows], [r.top_k for r in rows],
                [r.top_p for r in rows], [generators[i] for i in live],
            )  # fmt: skip
            logits = stepper.step(tokens)
            hidden = stepper.hidden() if reports_units else None  # (B, L * H)
        pieces: list[Piece | None] = [None] * len(requests)
        for row, (index, token) in enumerate(zip(live, tokens.tolist(), strict=True)):
            text = streams[index].feed(token)
            if step + 1 == requests[index].length:
                text += streams[index].flush()
            activations = hidden[row, units[index]].tolist() if hidden is not None else []
            pieces[index] = Piece(text, activations)
        yield pieces
        # a request that has all its tokens leaves the batch: later steps compute only the rest
        keep = [row for row, index in enumerate(live) if requests[index].length > step + 1]
        if len(keep) < len(live):
            live = [live[row] for row in keep]
            chosen = torch.tensor(keep, dtype=torch.long)
            logits = logits[chosen]
            stepper.keep(chosen)


def sample_many(loaded: LoadedLM, requests: Sequence[SampleRequest]) -> list[Sample]:
    """The whole sample of each request, sampled together (see ``sample_steps``)."""
    samples = [Sample() for _ in requests]
    for pieces in sample_steps(loaded, requests):
        for sample, piece in zip(samples, pieces, strict=True):
            if piece is not None:
                sample.pieces.append(piece)
    return samples


def _prime(model: LanguageModel, primes: list[list[int]]) -> tuple[Tensor, Any]:
    """Read each prime on its own (they differ in length); -> (next-token logits ``(B, V)``,
    the batch's state in torch's layout)."""
    logits, states = [], []
    for ids in primes:
        features, state = model.features(torch.tensor([ids]))
        logits.append(model.decoder(features[:, -1]))
        states.append(as_tuple(state))
    joined = tuple(torch.cat(parts, dim=1) for parts in zip(*states, strict=True))
    return torch.cat(logits), from_tuple(joined)
