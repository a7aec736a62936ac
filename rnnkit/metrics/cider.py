"""CIDEr-D (Vedantam, Zitnick and Parikh 2015), the consensus score of image captions.

For each image ``i`` with candidate ``c_i`` and references ``S_i = {s_i1, ..., s_im}``, and each
n-gram order ``n = 1..4``, a sentence becomes a vector ``g^n`` over n-grams ``w``: its count of
``w`` (term frequency) times the inverse document frequency of ``w`` among the images' reference
sets::

    g^n_w(s) = h_w(s) * log(|I| / max(1, sum_p min(1, sum_q h_w(s_pq))))

CIDEr-D's order-``n`` score compares the candidate with each reference, clipping the candidate's
counts at the reference's (so repeating a word earns nothing) and penalising a difference ``d``
in length (in words) with a Gaussian of ``sigma = 6``::

    CIDEr-D_n(c_i, S_i) = 10 / m * sum_j exp(-d_ij^2 / (2 sigma^2))
                          * (min(g^n(c_i), g^n(s_ij)) . g^n(s_ij)) / (|g^n(c_i)| |g^n(s_ij)|)

and ``CIDEr-D(c_i, S_i)`` is the mean over ``n = 1..4``; the corpus score is the mean over images.
A vector of norm 0 (a sentence shorter than ``n`` words, or whose n-grams occur in every image's
references) contributes 0. The ``max(1, .)`` gives an n-gram found in no reference the largest
idf, ``log |I|``, so it lengthens the candidate's vector, lowering its cosine. Sentences are
lowercased and split into words and punctuation marks.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

#: the n-gram orders CIDEr-D averages over, and the width of its length penalty (in words)
MAX_ORDER, SIGMA = 4, 6.0

_TOKEN = re.compile(r"\w+|[^\w\s]")


def caption_words(text: str) -> list[str]:
    """``text`` lowercased and split into words and punctuation marks."""
    return _TOKEN.findall(text.lower())


def ngram_counts(words: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    """How often each n-gram of ``words`` occurs."""
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def cider_d(
    candidates: Sequence[str], references: Sequence[Sequence[str]]
) -> tuple[float, list[float]]:
    """Corpus CIDEr-D and each image's score: one candidate per image, one or more references
    per image (``ValueError`` otherwise). Scores are on CIDEr-D's scale (x10; about 0..10)."""
    if len(candidates) != len(references):
        raise ValueError(
            f"need one candidate per reference set, got {len(candidates)} and {len(references)}"
        )
    if not candidates:
        raise ValueError("need at least one caption to score, got none")
    if any(len(refs) == 0 for refs in references):
        raise ValueError("every image needs at least one reference caption")
    candidate_words = [caption_words(c) for c in candidates]
    reference_words = [[caption_words(r) for r in refs] for refs in references]
    images = len(candidates)
    per_image = [0.0] * images
    for n in range(1, MAX_ORDER + 1):
        reference_counts = [[ngram_counts(w, n) for w in refs] for refs in reference_words]
        document_frequency: Counter[tuple[str, ...]] = Counter()
        for refs in reference_counts:
            document_frequency.update(set().union(*refs))

        def vector(counts: Counter, df: Counter = document_frequency) -> dict[tuple, float]:
            return {g: h * math.log(images / max(1, df[g])) for g, h in counts.items()}

        for i, (words, refs) in enumerate(zip(candidate_words, reference_counts, strict=True)):
            g_c = vector(ngram_counts(words, n))
            total = 0.0
            for ref_words, ref_counts in zip(reference_words[i], refs, strict=True):
                g_s = vector(ref_counts)
                norms = _norm(g_c) * _norm(g_s)
                if norms == 0.0:
                    continue
                clipped = sum(
                    min(value, g_s.get(g, 0.0)) * g_s.get(g, 0.0) for g, value in g_c.items()
                )
                delta = len(words) - len(ref_words)
                total += math.exp(-(delta**2) / (2 * SIGMA**2)) * clipped / norms
            per_image[i] += 10.0 * total / len(refs) / MAX_ORDER
    return sum(per_image) / images, per_image


def _norm(vector: dict[tuple, float]) -> float:
    return math.sqrt(sum(v * v for v in vector.values()))
