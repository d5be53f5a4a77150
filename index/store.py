"""Chroma vector store: embedded ``PersistentClient`` by default, ``HttpClient`` for a server.

The collection records the embedder's identity in its metadata; opening it with a
different embedder is refused, because vectors from two models are not comparable.

A chunk's text is stored as a metadata value (``TEXT_KEY``), not as a Chroma document:
Chroma builds a full-text index over documents that hoidap never queries (its lexical
index is its own), and writing it cost a third of the store's CPU time per chunk.
Indexes written before keep their texts as documents and are read as they are.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from index.config import Settings
from index.errors import ConfigError, EmbedderMismatch, StoreUnavailable
from index.private import private_dir
from index.types import Chunk

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
_COLLECTION_NAME_RE = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9._-]{1,510})[a-zA-Z0-9]$")
log = logging.getLogger(__name__)
TEXT_KEY = "text"


def _stored_chunk(chunk_id: str, document: str | None, meta: dict | None) -> Chunk:
    """A chunk read back from Chroma: its text from the metadata, or from the document
    in a collection written before texts moved there."""
    meta = meta or {}
    return Chunk.from_store(chunk_id, document or str(meta.get(TEXT_KEY, "")), meta)


def _chroma_settings():
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


class ChunkStore:
    """Chunks with their vectors and metadata in one Chroma collection."""

    def __init__(self, settings: Settings, embedder_identity: str):
        self.settings = settings
        self.embedder_identity = embedder_identity
        self._client = None
        self._collection = None

    # -- connection ------------------------------------------------------------
    @property
    def location(self) -> str:
        return self.settings.chroma_url or str(self.settings.store_dir)

    @property
    def client(self):
        if self._client is None:
            import chromadb

            try:
                if self.settings.chroma_url:
                    url = urlparse(self.settings.chroma_url)
                    if not url.hostname:
                        raise StoreUnavailable(
                            f"HOIDAP_CHROMA_URL={self.settings.chroma_url!r} is not a URL like http://127.0.0.1:8000"
                        )
                    self._client = chromadb.HttpClient(
                        host=url.hostname,
                        port=url.port or (443 if url.scheme == "https" else 8000),
                        ssl=url.scheme == "https",
                        settings=_chroma_settings(),
                    )
                    self._client.heartbeat()
                else:
                    private_dir(self.settings.home)
                    self.settings.store_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                    self._client = chromadb.PersistentClient(
                        path=str(self.settings.store_dir), settings=_chroma_settings()
                    )
            except StoreUnavailable:
                raise
            except BaseException as exc:  # chromadb's Rust core panics (pyo3) on damaged files
                if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
                    raise
                self._client = None
                raise self._unavailable(exc) from None
        return self._client

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        """What to do depends on the kind of store: a server to start, or a damaged folder."""
        if self.settings.chroma_url:
            return StoreUnavailable(
                f"Cannot reach the Chroma store at {self.location}: {exc}. "
                "Start the server (chroma run) or unset HOIDAP_CHROMA_URL to use the embedded store.",
                f"Không kết nối được kho Chroma tại {self.location}. Hãy khởi động máy chủ Chroma "
                "hoặc bỏ HOIDAP_CHROMA_URL để dùng kho nhúng.",
            )
        return StoreUnavailable(
            f"The embedded Chroma store at {self.location} cannot be opened "
            f"({type(exc).__name__}: {exc}); its files may be damaged. Rebuild it with "
            "`hoidap index --rebuild` (the damaged folder is kept aside) or restore a backup "
            "of the data dir.",
            f"Không mở được kho Chroma nhúng tại {self.location}; dữ liệu có thể đã hỏng. Hãy chạy "
            "`hoidap index --rebuild` (thư mục hỏng được giữ lại bên cạnh) hoặc khôi phục bản "
            "sao lưu thư mục dữ liệu.",
        )

    def _set_damaged_store_aside(self) -> Path:
        """Rename an unopenable embedded store folder (kept, never deleted) for a rebuild."""
        folder = self.settings.store_dir
        aside = folder.with_name(f"{folder.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        folder.rename(aside)
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient.clear_system_cache()  # its half-started system for the old folder
        log.warning("The damaged Chroma store was moved to %s; rebuilding", aside)
        return aside

    def _wrap(self, action: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ConfigError, EmbedderMismatch, StoreUnavailable):
            raise
        except BaseException as exc:  # incl. pyo3 panics from a damaged store
            if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
                raise
            raise StoreUnavailable(
                f"Chroma store at {self.location} failed during {action}: {exc}",
                f"Kho Chroma tại {self.location} gặp lỗi khi {action}.",
            ) from None

    @property
    def collection(self):
        if self._collection is None:
            name = self.settings.collection
            if not _COLLECTION_NAME_RE.match(name):
                raise ConfigError(
                    f"HOIDAP_COLLECTION={name!r} is not a valid Chroma collection name: use 3-512 "
                    "letters, digits, '.', '_' or '-', starting and ending with a letter or digit.",
                    f"HOIDAP_COLLECTION={name!r} không phải tên bộ sưu tập hợp lệ: dùng 3-512 ký tự "
                    "chữ, số, '.', '_' hoặc '-', bắt đầu và kết thúc bằng chữ hoặc số.",
                )
            client = self.client
            col = self._wrap(
                "open collection",
                client.get_or_create_collection,
                name=self.settings.collection,
                metadata={"embedder": self.embedder_identity, "hnsw:space": "cosine"},
            )
            stored = (col.metadata or {}).get("embedder")
            if stored and stored != self.embedder_identity:
                raise EmbedderMismatch(
                    f"Collection {self.settings.collection!r} was built with embedder {stored!r}, "
                    f"but the configured embedder is {self.embedder_identity!r}. Set HOIDAP_EMBEDDER "
                    "to the original one, or re-index with `hoidap index --rebuild`.",
                    f"Bộ sưu tập {self.settings.collection!r} được tạo bằng bộ nhúng {stored!r}, khác với "
                    f"bộ nhúng đang cấu hình {self.embedder_identity!r}. Hãy dùng lại bộ nhúng cũ hoặc "
                    "chạy `hoidap index --rebuild`.",
                )
            self._collection = col
        return self._collection

    # -- generation: how a running server learns that `hoidap index` changed the store --
    @property
    def _state_name(self) -> str:
        return f"{self.settings.collection}-state"

    def generation(self) -> str:
        """An opaque token that changes whenever an index run changes this collection
        ('' before the first). One small read, in the store itself, so that it works with
        the embedded store and with a Chroma server alike."""
        try:
            col = self.client.get_collection(self._state_name)
        except StoreUnavailable:
            raise
        except Exception:  # no state collection yet
            return ""
        got = self._wrap("read generation", col.get, ids=["generation"], include=["metadatas"])
        metas = got.get("metadatas") or []
        return str((metas[0] or {}).get("token", "")) if metas else ""

    def bump_generation(self) -> str:
        """Record that the collection changed (after every index run that changed it)."""
        token = uuid.uuid4().hex
        col = self._wrap(
            "open state",
            self.client.get_or_create_collection,
            name=self._state_name,
            metadata={"hnsw:space": "cosine"},
        )
        self._wrap(
            "write generation",
            col.upsert,
            ids=["generation"],
            embeddings=np.ones((1, 1), dtype=np.float32),
            documents=[""],
            metadatas=[{"token": token}],
        )
        return token

    def reopen(self) -> None:
        """Drop the open client so the next use reads the store afresh. An embedded store's
        vector index lives in this process' memory and does not see another process'
        writes; its cached Chroma system is closed so the index is read from disk again."""
        self._collection = None
        self._client = None
        if not self.settings.chroma_url:
            from chromadb.api.shared_system_client import SharedSystemClient

            SharedSystemClient.clear_system_cache()

    def stored_embedder(self) -> str | None:
        """The embedder identity the collection was built with (None if it does not exist)."""
        try:
            col = self.client.get_collection(self.settings.collection)
        except Exception:
            return None
        return (col.metadata or {}).get("embedder")

    def drop(self) -> None:
        """Delete the whole collection (``--rebuild``); an embedded store too damaged to
        open is set aside and started afresh."""
        try:
            client = self.client
        except StoreUnavailable:
            if self.settings.chroma_url or not self.settings.store_dir.exists():
                raise
            self._set_damaged_store_aside()
            client = self.client
        try:
            client.delete_collection(self.settings.collection)
        except Exception as exc:  # a missing collection is fine
            log.debug("delete_collection: %s", exc)
        self._collection = None

    # -- writes ----------------------------------------------------------------
    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        if not chunks:
            return
        self._wrap(
            "upsert",
            self.collection.upsert,
            ids=[c.chunk_id for c in chunks],
            embeddings=np.asarray(vectors, dtype=np.float32),
            metadatas=[{**c.metadata(), TEXT_KEY: c.text} for c in chunks],
        )

    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        for start in range(0, len(ids), 500):
            self._wrap("delete", self.collection.delete, ids=ids[start : start + 500])

    # -- reads -----------------------------------------------------------------
    def count(self) -> int:
        return int(self._wrap("count", self.collection.count))

    def id_sources(self) -> dict[str, str]:
        """chunk_id -> source for every stored chunk (metadata only, no vectors)."""
        return {cid: str(meta.get("source", "")) for cid, meta in self.id_metadata().items()}

    def id_metadata(self) -> dict[str, dict]:
        """chunk_id -> stored metadata for every chunk (no texts, no vectors)."""
        out: dict[str, dict] = {}
        total = self.count()
        for offset in range(0, total, 1000):
            got = self._wrap(
                "read", self.collection.get, include=["metadatas"], limit=1000, offset=offset
            )
            for cid, meta in zip(got["ids"], got["metadatas"], strict=False):
                meta = dict(meta or {})
                meta.pop(TEXT_KEY, None)
                out[cid] = meta
        return out

    def update_metadata(self, chunks: Sequence[Chunk]) -> None:
        """Rewrite the metadata of stored chunks, keeping their vectors and text."""
        for start in range(0, len(chunks), 500):
            part = chunks[start : start + 500]
            self._wrap(
                "update",
                self.collection.update,
                ids=[c.chunk_id for c in part],
                metadatas=[c.metadata() for c in part],
            )

    def get_chunks(self, ids: Sequence[str]) -> list[Chunk]:
        """The stored chunks with these ids (text and metadata), in the order given."""
        found: dict[str, Chunk] = {}
        ids = list(ids)
        for start in range(0, len(ids), 500):
            got = self._wrap(
                "read",
                self.collection.get,
                ids=ids[start : start + 500],
                include=["documents", "metadatas"],
            )
            for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=False):
                found[cid] = _stored_chunk(cid, doc, meta)
        return [found[cid] for cid in ids if cid in found]

    def chunks_of_sources(self, sources: Sequence[str]) -> dict[str, list[Chunk]]:
        """Every stored chunk of these articles, in order per article (one filtered read)."""
        wanted = sorted(set(sources))
        out: dict[str, list[Chunk]] = {source: [] for source in wanted}
        if not wanted:
            return out
        where = {"source": wanted[0]} if len(wanted) == 1 else {"source": {"$in": wanted}}
        got = self._wrap(
            "read", self.collection.get, where=where, include=["documents", "metadatas"]
        )
        for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=False):
            chunk = _stored_chunk(cid, doc, meta)
            out.setdefault(chunk.source, []).append(chunk)
        return {source: sorted(cs, key=lambda c: c.position) for source, cs in out.items()}

    def all_chunks(self) -> list[Chunk]:
        chunks: list[Chunk] = []
        total = self.count()
        for offset in range(0, total, 1000):
            got = self._wrap(
                "read",
                self.collection.get,
                include=["documents", "metadatas"],
                limit=1000,
                offset=offset,
            )
            for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=False):
                chunks.append(_stored_chunk(cid, doc, meta))
        chunks.sort(key=lambda c: (c.source, c.position))
        return chunks

    def similarities(self, ids: Sequence[str], vector: np.ndarray) -> dict[str, float]:
        """Cosine similarity of ``vector`` to the stored vectors of ``ids``."""
        if not ids:
            return {}
        got = self._wrap("read", self.collection.get, ids=list(ids), include=["embeddings"])
        mat = np.asarray(got["embeddings"], dtype=np.float32)
        if mat.size == 0:
            return {}
        return dict(
            zip(got["ids"], (mat @ np.asarray(vector, dtype=np.float32)).tolist(), strict=False)
        )

    def query(self, vector: np.ndarray, k: int) -> list[tuple[Chunk, float]]:
        """Top-k chunks by cosine similarity (1 - cosine distance)."""
        n = self.count()
        if n == 0:
            return []
        got = self._wrap(
            "query",
            self.collection.query,
            query_embeddings=[np.asarray(vector, dtype=np.float32)],
            n_results=min(k, n),
            include=["documents", "metadatas", "distances"],
        )
        return [
            (_stored_chunk(cid, doc, meta), 1.0 - float(dist))
            for cid, doc, meta, dist in zip(
                got["ids"][0],
                got["documents"][0],
                got["metadatas"][0],
                got["distances"][0],
                strict=False,
            )
        ]
