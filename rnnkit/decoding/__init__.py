"""Decoding: sampling the next token, greedy search, batched beam search and their settings."""

from rnnkit.decoding.beam import beam_search, gnmt_length_penalty
from rnnkit.decoding.common import SearchResult, StepFn, ban_repeated_ngrams
from rnnkit.decoding.greedy import greedy_search
from rnnkit.decoding.sampling import (
    inverse_cdf_draw,
    sample_bernoulli,
    sample_next,
    sample_rows,
    top_k_filter,
    top_p_filter,
)
from rnnkit.decoding.settings import MAX_LENGTH_SLACK, DecodingSettings, decode_limits
from rnnkit.decoding.state import repeat_rows, select_rows

__all__ = [
    "MAX_LENGTH_SLACK",
    "DecodingSettings",
    "SearchResult",
    "StepFn",
    "ban_repeated_ngrams",
    "beam_search",
    "decode_limits",
    "gnmt_length_penalty",
    "greedy_search",
    "inverse_cdf_draw",
    "repeat_rows",
    "sample_bernoulli",
    "sample_next",
    "sample_rows",
    "select_rows",
    "top_k_filter",
    "top_p_filter",
]
