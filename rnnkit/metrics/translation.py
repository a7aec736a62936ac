"""Translation metrics of output texts against reference texts: corpus BLEU, chrF, exact match.

BLEU and chrF are sacrebleu's, with its default settings (BLEU's ``13a`` tokenisation, chrF's
character 6-grams with beta 2), so the figures compare with published ones; both are 0..100.
Exact match is the share of outputs equal to their reference once runs of whitespace are made
single spaces, 0..1. ``corpus_bleu`` scores outputs that each have several references
(image captions).
"""

from __future__ import annotations

from collections.abc import Sequence


def score_translations(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Corpus ``bleu`` and ``chrf`` (0..100) and ``exact_match`` (0..1) of one output text per
    reference; ``ValueError`` when the counts differ or there is nothing to score."""
    # imported here, not by every rnnkit command that imports this module (~80 ms)
    from sacrebleu.metrics import BLEU, CHRF

    if len(hypotheses) != len(references):
        raise ValueError(
            f"need one hypothesis per reference, got {len(hypotheses)} and {len(references)}"
        )
    if not references:
        raise ValueError("need at least one sentence to score, got none")
    hypotheses, references = list(hypotheses), list(references)
    pairs = zip(hypotheses, references, strict=True)
    exact = sum(" ".join(h.split()) == " ".join(r.split()) for h, r in pairs)
    return {
        "bleu": BLEU().corpus_score(hypotheses, [references]).score,
        "chrf": CHRF().corpus_score(hypotheses, [references]).score,
        "exact_match": exact / len(references),
    }


def corpus_bleu(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]], *, max_order: int = 4
) -> float:
    """sacrebleu's corpus BLEU (0..100) with n-grams up to ``max_order``, of one output text per
    item against that item's one or more references (the counts may differ between items)."""
    from sacrebleu.metrics import BLEU

    if len(hypotheses) != len(references):
        raise ValueError(
            f"need one hypothesis per reference set, got {len(hypotheses)} and {len(references)}"
        )
    if not references:
        raise ValueError("need at least one sentence to score, got none")
    if any(len(refs) == 0 for refs in references):
        raise ValueError("every hypothesis needs at least one reference")
    # sacrebleu reads references as streams (the j-th reference of every item); an item with
    # fewer references has None in the streams it lacks
    streams = [
        [refs[j] if j < len(refs) else None for refs in references]
        for j in range(max(len(refs) for refs in references))
    ]
    return BLEU(max_ngram_order=max_order).corpus_score(list(hypotheses), streams).score
