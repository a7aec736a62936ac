"""Data: readers for the user's files, tokenizers, and batching for training."""

from rnnkit.data.readers import read_text
from rnnkit.data.streams import StreamBatches, check_stream_size, tokens_needed
from rnnkit.data.tokenizers import (
    BPETokenizer,
    CharTokenizer,
    Tokenizer,
    WordTokenizer,
    load_tokenizer,
    tokenizer_from_dict,
    train_tokenizer,
)

__all__ = [
    "BPETokenizer",
    "CharTokenizer",
    "StreamBatches",
    "Tokenizer",
    "WordTokenizer",
    "check_stream_size",
    "load_tokenizer",
    "read_text",
    "tokenizer_from_dict",
    "tokens_needed",
    "train_tokenizer",
]
