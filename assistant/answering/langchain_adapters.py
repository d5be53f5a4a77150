"""Hoidap's embedder and hybrid retriever as LangChain components.

So that the index can be used from ordinary LangChain code (LCEL chains, vector stores,
agents) with the same model and the same hybrid ranking the assistant uses, instead of
a second, differently-behaving setup:

* :class:`HoidapEmbeddings` — a ``langchain_core`` ``Embeddings`` over
  :class:`index.embedders.Embedder` (documents get passage embeddings, queries query
  embeddings: E5 models need the two prefixes to rank well);
* :class:`HoidapRetriever` — a ``BaseRetriever`` over
  :class:`assistant.answering.retriever.HybridRetriever` returning ``Document`` objects whose
  metadata carries what a citation needs (source, title, date, chunk_id, score).
"""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from assistant.answering.retriever import HybridRetriever
from index.config import Settings
from index.embedders import Embedder
from index.types import ScoredChunk


class HoidapEmbeddings(Embeddings):
    """LangChain ``Embeddings`` backed by a hoidap embedder (L2-normalised vectors)."""

    def __init__(self, embedder: Embedder):
        self.embedder = embedder

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> HoidapEmbeddings:
        from index.embedders import get_embedder

        settings = settings or Settings.load()
        return cls(get_embedder(settings.embedder, settings))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return [[float(x) for x in row] for row in self.embedder.embed_passages(list(texts))]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self.embedder.embed_query(text)]


def to_document(scored: ScoredChunk) -> Document:
    """A retrieved chunk as a LangChain ``Document`` (text verbatim, citation metadata)."""
    chunk = scored.chunk
    return Document(
        page_content=chunk.text,
        id=chunk.chunk_id,
        metadata={
            "source": chunk.source,
            "title": chunk.title,
            "date": chunk.date,
            "chunk_id": chunk.chunk_id,
            "score": float(scored.score),
            "position": chunk.position,
        },
    )


class HoidapRetriever(BaseRetriever):
    """LangChain retriever over hoidap's hybrid (dense + BM25) retrieval."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: HybridRetriever
    k: int = Field(default=6, ge=1)

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, k: int | None = None
    ) -> HoidapRetriever:
        """The retriever the assistant itself uses for ``settings`` (raises IndexEmpty when empty)."""
        from assistant.answering.assistant import Assistant

        assistant = Assistant(settings)
        return cls(retriever=assistant.retriever, k=k or assistant.settings.top_k)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [to_document(s) for s in self.retriever.retrieve(query, k=self.k)]
