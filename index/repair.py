"""Repair of a collection whose vector index no longer matches its records.

Chroma keeps a collection's records (ids, metadata, and hoidap's chunk texts) in its
SQLite file and the vectors in HNSW files beside it. Its SQLite log keeps vectors only
until they are flushed into those files (then the log is purged), so when the HNSW files
are cut short or deleted the vectors are lost while every record is still readable. A
run of ``hoidap index`` checks that every record's vector can be read back; when it
cannot, the collection is rewritten from its own stored texts, re-embedded, with the
same chunk ids: nothing is downloaded and no source file is read again.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.embedders import Embedder
from index.errors import HoidapError, StoreUnavailable
from index.store import TEXT_KEY, ChunkStore
from index.types import Chunk

log = logging.getLogger(__name__)


@dataclass
class Repaired:
    """What a repair did: the chunk ids written back, and where damaged files went."""

    ids: set[str] = field(default_factory=set)
    generation: str = ""  # the store's generation after the repair
    set_aside: list[Path] = field(default_factory=list)


def vector_index_answers(store: ChunkStore, page: int = 1000, pages: int = 8) -> bool:
    """Whether the collection's vectors read back and a query answers.

    Vectors are read by position, which is exact (a query for all neighbours is not: HNSW
    search may miss a few nodes of a sound graph), in at most ``pages`` pages spread over
    the collection, always the first and the last: a file cut short loses its tail, so the
    last page fails wherever the cut is, and the check costs the same at 100 k chunks as at
    10 k. A damaged HNSW file raises (Chroma's Rust core may panic) or yields fewer vectors
    than asked for."""
    col = store.collection  # an unreachable or unopenable store says so itself
    try:
        total = col.count()
        last = max(0, total - page)
        starts = sorted({min(k * total // pages, last) for k in range(pages - 1)} | {last})
        starts = [s for s in starts if s < total]
        first = None
        for offset in starts:
            found = col.get(limit=page, offset=offset, include=["embeddings"])["embeddings"]
            if found is None or len(found) != min(page, total - offset):
                return False
            first = found[0] if first is None else first
        if first is not None:
            col.query(query_embeddings=[np.asarray(first, dtype=np.float32)], n_results=1)
        return True
    except BaseException as exc:  # incl. pyo3 panics from damaged files
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
        log.warning("The vector index of %s does not answer: %s", store.location, exc)
        return False


def _vector_segment_dirs(store: ChunkStore, names: Sequence[str]) -> list[Path]:
    """The HNSW folders of these collections in an embedded store (read from Chroma's
    SQLite catalogue, read-only)."""
    folder = store.settings.store_dir
    marks = ",".join("?" for _ in names)
    uri = f"file:{folder / 'chroma.sqlite3'}?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        rows = db.execute(
            "SELECT s.id FROM segments s JOIN collections c ON s.collection = c.id "
            f"WHERE s.scope = 'VECTOR' AND c.name IN ({marks})",
            list(names),
        ).fetchall()
    return [folder / str(row[0]) for row in rows if (folder / str(row[0])).is_dir()]


def _set_vectors_aside(store: ChunkStore) -> list[Path]:
    """Move the damaged HNSW folders of the collection and of its state record out of the
    store (kept, never deleted): Chroma then opens the records without them."""
    if store.settings.chroma_url:
        return []
    names = [store.settings.collection, store._state_name]
    aside = store.settings.store_dir.with_name(
        f"{store.settings.store_dir.name}.damaged-vectors-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    moved = []
    for segment in _vector_segment_dirs(store, names):
        aside.mkdir(mode=0o700, parents=True, exist_ok=True)
        segment.rename(aside / segment.name)
        moved.append(aside / segment.name)
    store.reopen()
    log.warning("Damaged vector index files moved to %s", aside)
    return moved


def _stored_records(store: ChunkStore) -> tuple[list[Chunk], list[Path]]:
    """Every stored chunk (text and metadata), setting the vector files aside when Chroma
    will not read the records past them; a store whose records are unreadable too can
    only be rebuilt from the sources."""
    try:
        return store.all_chunks(), []
    except StoreUnavailable as first:
        log.warning("Records unreadable beside the damaged vectors: %s", first)
    try:
        moved = _set_vectors_aside(store)
        return store.all_chunks(), moved
    except (sqlite3.Error, OSError, StoreUnavailable) as exc:
        raise HoidapError(
            f"The vector index of collection {store.settings.collection!r} at {store.location} "
            f"is damaged and its stored records cannot be read either ({exc}). Rebuild it from "
            "the sources with `hoidap index --rebuild`.",
            f"Chỉ mục vectơ của bộ sưu tập {store.settings.collection!r} đã hỏng và không đọc "
            "được dữ liệu đã lưu. Hãy lập lại chỉ mục từ nguồn bằng `hoidap index --rebuild`.",
            code="store_damaged",
        ) from None


def _repair_name(store: ChunkStore) -> str:
    return f"{store.settings.collection}-repair"


def _delete(client, name: str) -> None:
    try:
        client.delete_collection(name)
    except Exception as exc:  # a missing collection is fine
        log.debug("delete_collection %s: %s", name, exc)


def _write_back(store: ChunkStore, embedder: Embedder, chunks: Sequence[Chunk]) -> None:
    """The same chunks, their vectors embedded anew, written into a collection of their
    own that replaces the damaged one only once complete (a run killed meanwhile leaves
    the damaged collection with every record, and the next run repairs it again)."""
    client, name = store.client, store.settings.collection
    _delete(client, _repair_name(store))  # left by a run killed while filling it
    fresh = client.create_collection(
        _repair_name(store), metadata={"embedder": embedder.identity, "hnsw:space": "cosine"}
    )
    step, size = max(1, embedder.store_batch), max(1, embedder.batch_size)
    for start in range(0, len(chunks), step):
        part = chunks[start : start + step]
        texts = [c.embedding_text() for c in part]
        vectors = [embedder.embed_passages(texts[i : i + size]) for i in range(0, len(part), size)]
        fresh.upsert(
            ids=[c.chunk_id for c in part],
            embeddings=np.concatenate(vectors).astype(np.float32),
            metadatas=[{**c.metadata(), TEXT_KEY: c.text} for c in part],
        )
    _delete(client, store._state_name)  # its vectors may be damaged too: written anew after
    _delete(client, name)
    fresh.modify(name=name)
    store.reopen()


def _finish_interrupted_swap(store: ChunkStore) -> None:
    """A run killed between deleting the damaged collection and renaming its complete
    replacement: the replacement takes the collection's name."""
    client, names = store.client, {c.name for c in store.client.list_collections()}
    if _repair_name(store) in names and store.settings.collection not in names:
        client.get_collection(_repair_name(store)).modify(name=store.settings.collection)
        log.warning("Finished the vector index repair a killed run had written")


def repair_vector_index(store: ChunkStore, embedder: Embedder) -> Repaired | None:
    """Rebuild the collection from its stored texts when its vector index does not
    answer for every record; None when it is sound (nothing is touched then)."""
    store._wrap("finish an interrupted repair", _finish_interrupted_swap, store)
    if vector_index_answers(store):
        return None
    chunks, moved = _stored_records(store)
    log.warning("Rebuilding the vector index of %d chunks from their stored text", len(chunks))
    store._wrap("rewrite the collection", _write_back, store, embedder, chunks)
    generation = store.bump_generation()  # running servers reload the rewritten store
    if not vector_index_answers(store):
        raise StoreUnavailable(
            f"The vector index at {store.location} still does not answer after a repair.",
            "Chỉ mục vectơ vẫn không trả lời sau khi sửa; hãy chạy `hoidap index --rebuild`.",
        )
    return Repaired({c.chunk_id for c in chunks}, generation, moved)
