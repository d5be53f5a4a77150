"""An OpenAI-compatible ``POST {base_url}/embeddings`` endpoint (vLLM, Ollama, llama.cpp, OpenAI)."""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import numpy as np

from index.embedders.base import Embedder, l2_normalize, register_embedder
from index.errors import ConfigError, StoreUnavailable


class OpenAIEmbedder(Embedder):
    batch_size = 64

    def __init__(self, model: str, base_url: str, api_key: str = "", timeout: float = 30.0):
        if not model or not base_url:
            raise ConfigError(
                "openai:<model> embeddings need a model name and HOIDAP_EMBED_BASE_URL "
                "(e.g. http://127.0.0.1:8000/v1)"
            )
        self.model = model
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout = timeout
        self.identity = f"openai:{model}@{self.base_url}"

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        out = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            try:
                resp = httpx.post(
                    f"{self.base_url}/embeddings",
                    json={"model": self.model, "input": batch},
                    headers=self._headers,
                    timeout=self.timeout,
                )
                resp.raise_for_status()
                data = sorted(resp.json()["data"], key=lambda d: d["index"])
                if len(data) != len(batch):
                    raise ValueError(f"sent {len(batch)} texts, got {len(data)} embeddings back")
                out.extend(d["embedding"] for d in data)
                if len({len(v) for v in out}) != 1:
                    raise ValueError("embeddings of different lengths in one response")
            except (httpx.HTTPError, KeyError, ValueError, TypeError) as exc:
                raise StoreUnavailable(
                    f"Embeddings endpoint {self.base_url} failed: {exc}",
                    f"Máy chủ nhúng {self.base_url} không phản hồi đúng: {exc}",
                    code="embedder_unavailable",
                ) from exc
        return l2_normalize(np.asarray(out, dtype=np.float32))

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed([text])[0]


@register_embedder("openai")
def _factory(arg: str, settings) -> Embedder:
    return OpenAIEmbedder(
        arg,
        getattr(settings, "embed_base_url", ""),
        getattr(settings, "embed_api_key", ""),
    )
