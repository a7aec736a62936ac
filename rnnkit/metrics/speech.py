"""Speech recognition error rates: character and word error rates (CER, WER) with jiwer.

Both texts are normalised first: stripped, and runs of whitespace made one space. Characters
include those spaces; words are the space-separated pieces. An error count is the Levenshtein
distance (substitutions + deletions + insertions) and a rate divides the corpus's errors by its
reference characters or words (by 1 where the references are all empty, so never NaN).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rnnkit.errors import require_extra


def _jiwer() -> Any:
    return require_extra("jiwer", "speech", "speech error rates")


def normalize_text(text: str) -> str:
    """Strip ``text`` and make every run of whitespace one space."""
    return " ".join(text.split())


def _counts(references: list[str], hypotheses: list[str], unit: str) -> tuple[int, int]:
    """(errors, reference units) over the pairs; ``unit`` is "chars" or "words"."""
    size = len if unit == "chars" else (lambda text: len(text.split()))
    errors = reference_units = 0
    both_ref, both_hyp = [], []
    for reference, hypothesis in zip(references, hypotheses, strict=True):
        if reference and hypothesis:
            both_ref.append(reference)
            both_hyp.append(hypothesis)
        else:  # jiwer versions differ on empty texts: all insertions or all deletions
            errors += size(reference) + size(hypothesis)
            reference_units += size(reference)
    if both_ref:
        jiwer = _jiwer()
        process = jiwer.process_characters if unit == "chars" else jiwer.process_words
        out = process(both_ref, both_hyp)
        errors += out.substitutions + out.deletions + out.insertions
        reference_units += out.substitutions + out.deletions + out.hits
    return errors, reference_units


def error_rates(references: Sequence[str], hypotheses: Sequence[str]) -> dict[str, float | int]:
    """Corpus ``cer`` and ``wer`` of ``hypotheses`` against ``references`` (paired in order).

    Also returns the counts: ``char_errors``, ``chars``, ``word_errors``, ``words`` (reference
    characters and words). An empty reference counts the hypothesis's units as insertions.
    """
    if len(references) != len(hypotheses):
        raise ValueError(
            f"{len(references)} references but {len(hypotheses)} hypotheses: they must pair up"
        )
    refs = [normalize_text(text) for text in references]
    hyps = [normalize_text(text) for text in hypotheses]
    char_errors, chars = _counts(refs, hyps, "chars")
    word_errors, words = _counts(refs, hyps, "words")
    return {
        "cer": char_errors / max(chars, 1),
        "wer": word_errors / max(words, 1),
        "char_errors": char_errors,
        "chars": chars,
        "word_errors": word_errors,
        "words": words,
    }


def utterance_errors(reference: str, hypothesis: str) -> dict[str, float | int]:
    """``cer``, ``wer``, ``char_errors`` and ``word_errors`` (and ``chars``, ``words``) of one
    utterance, for per-file output."""
    return error_rates([reference], [hypothesis])
