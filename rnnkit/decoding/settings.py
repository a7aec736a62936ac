"""How a trained sequence model searches for its output: the settings, their checks, the limits.

Every task that decodes a sequence with ``greedy_search`` or ``beam_search`` (translate, image
captioning) is configured the same way: a beam size, a length penalty, a limit on the output's
length relative to its source, a ban on repeated n-grams, and whether the unknown token may be
emitted. A run stores these settings with its options; a command may override any of them::

    stored = DecodingSettings(beam=5, length_penalty=1.0)
    settings = stored.overridden(beam=None, no_repeat_ngram=3)   # None keeps the stored value
    limits = settings.max_lengths(source_lengths, cap=200)       # (B,) tokens, eos included
    model.generate(..., max_len=limits, beam_size=settings.beam,
                   forbidden_ids=settings.forbidden_ids(unk_id))

A row may emit ``ceil(max_length_ratio * source length) + MAX_LENGTH_SLACK`` tokens (eos
included), never more than the cap (the longest target the model was trained on): the slack lets
a very short source still have a translation longer than itself.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from rnnkit.errors import UserError

#: a row may emit ``ceil(max_length_ratio * source length) + MAX_LENGTH_SLACK`` tokens
MAX_LENGTH_SLACK = 10


@dataclass(frozen=True)
class DecodingSettings:
    """The settings of one search; the defaults are plain greedy search.

    - ``beam``: hypotheses kept per row (1: greedy search);
    - ``length_penalty``: GNMT's alpha, by which beam search ranks finished hypotheses (0: by
      summed log-probability);
    - ``max_length_ratio``: output tokens allowed per source token (see the module doc);
    - ``no_repeat_ngram``: no n-gram of this length occurs twice in an output (0: off);
    - ``allow_unknown``: whether the unknown token may be emitted (a word vocabulary's ``<unk>``
      would otherwise stand in the output for every word the model cannot name).
    """

    beam: int = 1
    length_penalty: float = 0.0
    max_length_ratio: float = 2.0
    no_repeat_ngram: int = 0
    allow_unknown: bool = False

    def check(self) -> DecodingSettings:
        """Raise ``UserError`` naming the first bad setting by its flag; returns ``self``."""
        if not _is_whole(self.beam) or self.beam < 1:
            raise UserError(f"--beam must be a whole number >= 1, got {self.beam!r}.")
        if not _is_number(self.length_penalty):
            raise UserError(f"--length-penalty must be a number, got {self.length_penalty!r}.")
        if not _is_number(self.max_length_ratio) or self.max_length_ratio <= 0:
            raise UserError(f"--max-length-ratio must be positive, got {self.max_length_ratio!r}.")
        if not _is_whole(self.no_repeat_ngram) or self.no_repeat_ngram < 0:
            raise UserError(
                "--no-repeat-ngram must be a whole number >= 0 (0: off), got "
                f"{self.no_repeat_ngram!r}."
            )
        return self

    def overridden(self, **given: Any) -> DecodingSettings:
        """These settings with each ``given`` one that is not None in its place; checked.

        ``overridden(beam=None, allow_unknown=True)`` keeps the beam and allows the unknown token,
        as a command does with the flags the user typed (None: not typed).
        """
        chosen = {name: value for name, value in given.items() if value is not None}
        return dataclasses.replace(self, **chosen).check()

    def forbidden_ids(self, unk_id: int) -> tuple[int, ...]:
        """The ids the search must never emit: the unknown token ``unk_id`` unless allowed."""
        return () if self.allow_unknown else (unk_id,)

    def max_lengths(self, source_lengths: Tensor, cap: int) -> Tensor:
        """The most tokens (eos included) each row may emit, ``(B,)``, for ``source_lengths
        (B,)``; see ``decode_limits``."""
        return decode_limits(source_lengths, self.max_length_ratio, cap)


def decode_limits(source_lengths: Tensor, ratio: float, cap: int) -> Tensor:
    """``min(cap, ceil(ratio * source length) + MAX_LENGTH_SLACK)`` per row: ``(B,)`` int64.

    ``source_lengths (B,)``: tokens of each source (its eos included, as the encoder reads it).
    """
    # In float64, as Python multiplies floats: float32 rounds some products to the whole number
    # below (2.2 * 25 gives 55, not 56), so the limit would depend on the tensor type.
    limits = torch.ceil(source_lengths.double() * ratio).long() + MAX_LENGTH_SLACK
    return limits.clamp(max=cap)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
