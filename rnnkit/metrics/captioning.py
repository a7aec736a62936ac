"""Caption metrics of generated captions against several reference captions per image:
BLEU-1..4 (sacrebleu, multiple references), CIDEr-D (``rnnkit.metrics.cider``), exact match.

BLEU-n is sacrebleu's corpus BLEU with n-grams up to ``n`` (``13a`` tokenisation, 0..100), each
hypothesis counted against all of its image's references. Exact match is the share of captions
equal to one of their references word for word, as CIDEr-D splits them (lowercased, punctuation
marks apart: "a bag, a coat" equals "A bag , a coat"), 0..1.
"""

from __future__ import annotations

from collections.abc import Sequence

from rnnkit.metrics.cider import caption_words, cider_d
from rnnkit.metrics.translation import corpus_bleu


def score_captions(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]]
) -> dict[str, float]:
    """``bleu1``..``bleu4`` (0..100), ``cider`` (CIDEr-D, about 0..10) and ``exact_match``
    (0..1) of one caption per image against that image's reference captions."""
    scores = {f"bleu{n}": corpus_bleu(hypotheses, references, max_order=n) for n in range(1, 5)}
    scores["cider"], _ = cider_d(hypotheses, references)
    exact = sum(
        _normal(h) in {_normal(r) for r in refs}
        for h, refs in zip(hypotheses, references, strict=True)
    )
    scores["exact_match"] = exact / len(references)
    return scores


def _normal(text: str) -> str:
    return " ".join(caption_words(text))
