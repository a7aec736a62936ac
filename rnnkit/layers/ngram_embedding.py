"""The mean embedding of a token's hashed character n-grams (see ``rnnkit.data.char_ngrams``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class NgramEmbedding(nn.Module):
    """``ids (B, T, G)`` of hashed n-grams (0 = padding) -> ``(B, T, E)``: for each token the mean
    of its n-grams' vectors, zeros for a token without any.

    Args:
        buckets: number of hash buckets, bucket 0 being padding.
        embedding_size: ``E``.
    """

    def __init__(self, buckets: int, embedding_size: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(buckets, embedding_size, padding_idx=0)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        with torch.no_grad():
            self.embedding.weight[0].zero_()

    def forward(self, ids: Tensor) -> Tensor:
        vectors = self.embedding(ids)  # (B, T, G, E), zeros at padding
        count = (ids != 0).sum(dim=-1, keepdim=True).clamp(min=1)  # (B, T, 1)
        return vectors.sum(dim=-2) / count.to(vectors.dtype)
