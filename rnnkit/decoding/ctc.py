"""Decoding CTC outputs: greedy best path, and prefix beam search with an optional language model.

CTC (Graves et al. 2006) emits a label or ``blank`` at every frame; a label sequence is read from
a frame path by merging repeated labels, then removing blanks, so "a a - a" reads "aa" and
"a a a" reads "a". The prefix beam search (Graves 2012, Hannun et al. 2014) keeps, for each
prefix, the probability of the paths that read it and end in blank and of those ending in its
last label, which decides whether the next frame's label repeats or extends it.

Language models score label ids, not strings: ``CharNgramLM`` (an interpolated Witten–Bell
n-gram) and ``WordListLM`` (a list of allowed words); both follow ``LanguageModelScorer``.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

END = -1  # the end-of-sentence token of the language models
BEGIN = -2  # pads the history before the first label (never predicted)
NEG_INF = -math.inf


def _collapse(path: Iterable[int], blank: int) -> list[int]:
    labels, previous = [], None
    for label in path:
        if label != previous and label != blank:
            labels.append(label)
        previous = label
    return labels


def ctc_greedy_alignment(log_probs: Tensor, blank: int = 0) -> list[int]:
    """The most probable label (or blank) of each frame of ``log_probs (T, V)``: T ids."""
    del blank  # the alignment keeps blanks; the argument mirrors ctc_greedy's
    return log_probs.argmax(dim=-1).tolist()


def ctc_greedy(log_probs: Tensor, lengths: Tensor, blank: int = 0) -> list[list[int]]:
    """Best-path decoding of ``log_probs (B, T, V)`` with valid lengths ``lengths (B,)``.

    The per-frame argmax path, repeats merged and then blanks removed: one label list per row.
    """
    best = log_probs.argmax(dim=-1).cpu().tolist()
    return [_collapse(row[: int(n)], blank) for row, n in zip(best, lengths.tolist(), strict=True)]


class LanguageModelScorer(Protocol):
    """What the beam search needs of a language model over label ids."""

    END: int

    def log_prob(self, context: tuple[int, ...], token: int) -> float:
        """log P(token | context); ``token`` is a label id or ``END``."""
        ...


class CharNgramLM:
    """An n-gram model of label sequences with interpolated Witten–Bell smoothing.

    P(w | h) = (c(h, w) + N1+(h) P(w | h')) / (c(h) + N1+(h)), where h' drops the oldest token
    of h and N1+(h) counts the distinct tokens seen after h; below the unigram is the uniform
    distribution over the ``vocab_size`` labels and ``END``. Every context therefore gets a proper
    distribution over the labels and ``END``, unseen labels included.
    """

    END = END

    def __init__(self, order: int, vocab_size: int, counts: dict[tuple[int, ...], dict[int, int]]):
        if order < 1:
            raise ValueError(f"order must be at least 1, got {order}")
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be at least 1, got {vocab_size}")
        self.order = order
        self.vocab_size = vocab_size
        self.counts = counts
        self._totals = {context: sum(following.values()) for context, following in counts.items()}
        self._cache: dict[tuple[tuple[int, ...], int], float] = {}

    @classmethod
    def fit(
        cls, sequences: Iterable[Sequence[int]], order: int = 3, *, vocab_size: int
    ) -> CharNgramLM:
        """Count the n-grams (up to ``order`` tokens, with ``END``) of label-id ``sequences``."""
        if order < 1:
            raise ValueError(f"order must be at least 1, got {order}")
        counts: dict[tuple[int, ...], dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for sequence in sequences:
            for token in sequence:
                if not 0 <= token < vocab_size:
                    raise ValueError(f"label {token} is outside the vocabulary of {vocab_size}")
            padded = [BEGIN] * (order - 1) + list(sequence) + [END]
            for i in range(order - 1, len(padded)):
                for k in range(order):
                    counts[tuple(padded[i - k : i])][padded[i]] += 1
        return cls(order, vocab_size, {ctx: dict(following) for ctx, following in counts.items()})

    def _history(self, context: Sequence[int]) -> tuple[int, ...]:
        if self.order == 1:
            return ()
        tail = tuple(context[-(self.order - 1) :])
        return (BEGIN,) * (self.order - 1 - len(tail)) + tail

    def _prob(self, history: tuple[int, ...], token: int) -> float:
        if history:
            lower = self._prob(history[1:], token)
        else:
            lower = 1.0 / (self.vocab_size + 1)  # the uniform base: every label and END
        following = self.counts.get(history)
        if not following:
            return lower
        types = len(following)
        return (following.get(token, 0) + types * lower) / (self._totals[history] + types)

    def log_prob(self, context: tuple[int, ...], token: int) -> float:
        """log P(token | the last ``order - 1`` labels of ``context``); ``token`` may be END."""
        history = self._history(context)
        key = (history, token)
        cached = self._cache.get(key)
        if cached is None:
            if token != END and not 0 <= token < self.vocab_size:
                raise ValueError(f"label {token} is outside the vocabulary of {self.vocab_size}")
            cached = self._cache[key] = math.log(self._prob(history, token))
        return cached

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "char_ngram",
            "order": self.order,
            "vocab_size": self.vocab_size,
            "counts": [
                [list(context), token, count]
                for context, following in sorted(self.counts.items())
                for token, count in sorted(following.items())
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CharNgramLM:
        if data.get("type") != "char_ngram":
            raise ValueError(f"not a char_ngram language model: type {data.get('type')!r}")
        counts: dict[tuple[int, ...], dict[int, int]] = defaultdict(dict)
        for context, token, count in data["counts"]:
            counts[tuple(context)][int(token)] = int(count)
        return cls(int(data["order"]), int(data["vocab_size"]), dict(counts))


class WordListLM:
    """Keeps hypotheses on a word list: words are label-id sequences split by ``separator``.

    ``log_prob`` is 0 for a label that keeps the current word (the labels since the last
    separator) a prefix of a listed word, and for a separator or ``END`` that closes a listed
    word (or ``END`` after a separator, or of the empty sequence); anything else scores
    ``oov_penalty``, once per offending label.
    """

    END = END

    def __init__(
        self, words: Iterable[Sequence[int]], separator: int, oov_penalty: float = -10.0
    ) -> None:
        self.words = sorted({tuple(word) for word in words if len(word) > 0})
        if any(separator in word for word in self.words):
            raise ValueError(f"a word contains the separator {separator}")
        self.separator = separator
        self.oov_penalty = float(oov_penalty)
        self._prefixes = {word[:i] for word in self.words for i in range(len(word) + 1)}
        self._complete = set(self.words)

    def _current_word(self, context: Sequence[int]) -> tuple[int, ...]:
        context = tuple(context)
        if self.separator in context:
            start = len(context) - context[::-1].index(self.separator)
            return context[start:]
        return context

    def log_prob(self, context: tuple[int, ...], token: int) -> float:
        word = self._current_word(context)
        if token == END and not word:
            return 0.0
        if token in (END, self.separator):
            return 0.0 if word in self._complete else self.oov_penalty
        return 0.0 if word + (token,) in self._prefixes else self.oov_penalty

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "word_list",
            "words": [list(word) for word in self.words],
            "separator": self.separator,
            "oov_penalty": self.oov_penalty,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WordListLM:
        if data.get("type") != "word_list":
            raise ValueError(f"not a word_list language model: type {data.get('type')!r}")
        return cls(data["words"], int(data["separator"]), float(data["oov_penalty"]))


def _logaddexp(a: float, b: float) -> float:
    if a < b:
        a, b = b, a
    if b == NEG_INF:
        return a
    return a + math.log1p(math.exp(b - a))


def ctc_prefix_beam_search(
    log_probs: Tensor | np.ndarray,
    *,
    beam: int = 8,
    blank: int = 0,
    lm: LanguageModelScorer | None = None,
    lm_weight: float = 0.5,
    insertion_bonus: float = 0.0,
    prune_log_prob: float | None = -12.0,
) -> list[tuple[list[int], float]]:
    """The CTC prefix beam search over ``log_probs (T, V)`` (log-softmax outputs of one utterance).

    A prefix's score is log P_ctc(prefix) + ``lm_weight`` * log P_lm(prefix) +
    ``insertion_bonus`` * len(prefix), the LM and bonus added when a label is appended and
    ``lm_weight`` * log P_lm(END | prefix) at the end. At each frame only labels with a
    log-probability above ``prune_log_prob`` extend prefixes (blank always counts; None: every
    label), and the ``beam`` best prefixes are kept. Returns up to ``beam`` (labels, score) pairs,
    best first. With no LM, a beam wider than the number of prefixes and no pruning, the scores
    are the exact log-probabilities of the label sequences.
    """
    if isinstance(log_probs, Tensor):
        log_probs = log_probs.detach().to("cpu", torch.float64).numpy()
    log_probs = np.asarray(log_probs, dtype=np.float64)
    if log_probs.ndim != 2:
        raise ValueError(f"log_probs must be (T, V), got shape {log_probs.shape}")
    if beam < 1:
        raise ValueError(f"beam must be at least 1, got {beam}")
    if prune_log_prob is None:
        allowed = np.ones(log_probs.shape, dtype=bool)
    else:
        allowed = log_probs > prune_log_prob
    allowed &= np.isfinite(log_probs)  # labels masked with -inf can never be read
    allowed[:, blank] = False
    lm_cache: dict[tuple[tuple[int, ...], int], float] = {}

    def extension_score(prefix: tuple[int, ...], label: int) -> float:
        if lm is None:
            return insertion_bonus
        key = (prefix, label)
        score = lm_cache.get(key)
        if score is None:
            score = lm_cache[key] = lm_weight * lm.log_prob(prefix, label) + insertion_bonus
        return score

    # prefix -> [log P(paths ending in blank), log P(paths ending in the prefix's last label)]
    add = _logaddexp
    # An upper bound of what the LM and bonus add to a label (log P_lm <= 0), for pruning below.
    most_added = insertion_bonus if lm is None or lm_weight >= 0 else math.inf
    beams: dict[tuple[int, ...], list[float]] = {(): [0.0, NEG_INF]}
    for t in range(log_probs.shape[0]):
        frame = log_probs[t].tolist()
        labels = [(label, frame[label]) for label in np.flatnonzero(allowed[t]).tolist()]
        blank_lp = frame[blank]
        totals = [add(p_blank, p_label) for p_blank, p_label in beams.values()]
        # Each kept prefix scores at least total + blank at this frame, so `beam` of them reach
        # `floor`; a new prefix has one parent, so a contribution below `floor` cannot be kept.
        floor = heapq.nlargest(beam, totals)[-1] + blank_lp if len(totals) >= beam else NEG_INF
        following: dict[tuple[int, ...], list[float]] = {}
        for (prefix, (p_blank, p_label)), total in zip(beams.items(), totals, strict=True):
            stay = following.get(prefix)
            if stay is None:
                stay = following[prefix] = [total + blank_lp, NEG_INF]
            else:
                stay[0] = add(stay[0], total + blank_lp)
            last = prefix[-1] if prefix else None
            for label, lp in labels:
                if label == last:
                    # The same label again merges into the prefix; only after a blank it repeats.
                    stay[1] = add(stay[1], p_label + lp)
                    source = p_blank
                else:
                    source = total
                if source + lp + most_added < floor or source == NEG_INF:
                    extended = prefix + (label,)
                    if extended not in beams or source == NEG_INF:
                        continue
                else:
                    extended = prefix + (label,)
                score = source + lp + extension_score(prefix, label)
                grown = following.get(extended)
                if grown is None:
                    following[extended] = [NEG_INF, score]
                else:
                    grown[1] = add(grown[1], score)
        if len(following) > beam:
            kept = heapq.nlargest(beam, following.items(), key=lambda item: add(*item[1]))
            beams = dict(kept)
        else:
            beams = following
    results = []
    for prefix, (p_blank, p_label) in beams.items():
        score = _logaddexp(p_blank, p_label)
        if lm is not None:
            score += lm_weight * lm.log_prob(prefix, lm.END)
        results.append((list(prefix), score))
    results.sort(key=lambda item: -item[1])
    # Prefixes no path reads (a label of log-probability -inf) go, unless nothing else is left.
    return [item for item in results if item[1] > NEG_INF] or results[:1]


def ctc_beam_search_batch(log_probs: Tensor, lengths: Tensor, **kwargs: Any) -> list[list[int]]:
    """The best prefix beam search hypothesis of each row of ``log_probs (B, T, V)``.

    ``lengths (B,)`` are the valid frames; ``kwargs`` go to ``ctc_prefix_beam_search``.
    """
    array = log_probs.detach().to("cpu", torch.float64).numpy()
    return [
        ctc_prefix_beam_search(array[row, : int(n)], **kwargs)[0][0]
        for row, n in enumerate(lengths.tolist())
    ]
