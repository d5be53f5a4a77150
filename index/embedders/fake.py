"""Deterministic hashing embedder for unit tests: same text, same vector, no model."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from index.embedders.base import Embedder, l2_normalize, register_embedder
from index.normalize import fold, lexical_terms


class HashingEmbedder(Embedder):
    """Bag of folded syllables and bigrams hashed into ``dim`` buckets (sign-hashed)."""

    def __init__(self, dim: int = 256):
        self.dim = dim
        self.identity = f"fake:hashing-{dim}"

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        for term in lexical_terms(fold(text)):
            h = int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), "little")
            vec[h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        return vec

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalize(np.stack([self._vector(t) for t in texts]))

    def embed_query(self, text: str) -> np.ndarray:
        return l2_normalize(self._vector(text))


@register_embedder("fake")
def _factory(arg: str, settings) -> Embedder:
    return HashingEmbedder(int(arg) if arg else 256)
