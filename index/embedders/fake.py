"""Deterministic hashing embedder for unit tests: same text, same vector, no model."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from index.embedders.base import Embedder, l2_normalize, register_embedder
from index.normalize import fold, lexical_terms


@lru_cache(maxsize=1 << 18)
def _term_hash(term: str) -> int:
    """64-bit hash of a term; terms repeat across a corpus, so each is hashed once."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), "little")


class HashingEmbedder(Embedder):
    """Bag of folded syllables and bigrams hashed into ``dim`` buckets (sign-hashed)."""

    store_batch = 1000  # hashing is fast: the store's per-call cost dominates

    def __init__(self, dim: int = 256):
        self.dim = dim
        self.identity = f"fake:hashing-{dim}"

    def _vector(self, text: str) -> np.ndarray:
        hashes = np.array([_term_hash(t) for t in lexical_terms(fold(text))], dtype=np.uint64)
        signs = np.where(hashes >> np.uint64(63), 1.0, -1.0)
        buckets = (hashes % np.uint64(self.dim)).astype(np.int64)
        return np.bincount(buckets, weights=signs, minlength=self.dim).astype(np.float32)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalize(np.stack([self._vector(t) for t in texts]))

    def embed_query(self, text: str) -> np.ndarray:
        return l2_normalize(self._vector(text))


@register_embedder("fake")
def _factory(arg: str, settings) -> Embedder:
    return HashingEmbedder(int(arg) if arg else 256)
