"""Any sentence-transformers model by name or local path (extra ``hoidap[st]``)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from index.embedders.base import Embedder, l2_normalize, register_embedder
from index.errors import ConfigError


def _identity(name_or_path: str) -> str:
    """``st:<name>``; a local folder adds a digest of its config and weights.

    Folders are often called just ``model``: the digest keeps two different models
    from sharing an identity (and so a collection), while moving a folder keeps it.
    """
    folder = Path(name_or_path).expanduser()
    if not folder.is_dir():
        return f"st:{name_or_path}"
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.name in ("config.json", "modules.json", "tokenizer.json"):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        elif path.suffix in (".safetensors", ".bin") and path.is_file():
            with path.open("rb") as fh:  # size + first MiB: cheap, and differs per fine-tune
                digest.update(f"{path.name}:{path.stat().st_size}".encode() + fh.read(1 << 20))
    label = folder.resolve().name or name_or_path
    return f"st:{label}@{digest.hexdigest()[:12]}"


class SentenceTransformerEmbedder(Embedder):
    """Loads offline (``HF_HUB_OFFLINE=1``): a name must already be in the local cache."""

    def __init__(self, name_or_path: str, query_prefix: str = "", passage_prefix: str = ""):
        if not name_or_path:
            raise ConfigError(
                "st: embedder needs a model name or path, e.g. st:/models/all-MiniLM-L6-v2"
            )
        self.name_or_path = name_or_path
        self.identity = _identity(name_or_path)
        is_e5 = "e5" in name_or_path.lower()
        self.query_prefix = query_prefix or ("query: " if is_e5 else "")
        self.passage_prefix = passage_prefix or ("passage: " if is_e5 else "")
        self._model = None

    @property
    def model(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise ConfigError(
                    "The st: embedder needs sentence-transformers: pip install 'hoidap[st]'"
                ) from exc
            try:
                self._model = SentenceTransformer(self.name_or_path, device="cpu")
            except Exception as exc:  # OSError, ValueError, hub errors when offline
                raise ConfigError(
                    f"Could not load sentence-transformers model {self.name_or_path!r} offline: {exc}. "
                    "Give a local folder path or a model already in the Hugging Face cache."
                ) from exc
        return self._model

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        texts = [self.passage_prefix + t for t in texts]
        return l2_normalize(
            self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True)
        )

    def embed_query(self, text: str) -> np.ndarray:
        return l2_normalize(self.model.encode([self.query_prefix + text], convert_to_numpy=True)[0])


@register_embedder("st")
def _factory(arg: str, settings) -> Embedder:
    return SentenceTransformerEmbedder(arg)
