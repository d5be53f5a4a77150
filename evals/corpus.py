"""Index an external evaluation corpus (BEIR / SQuAD / CSV) into its own collection.

An eval corpus never touches the user's index: it lives under the run folder
(``<out>/index``, collection ``eval``). Documents are chunked exactly like articles
(:func:`index.chunker.chunk_article`, same token budget), so a long context becomes
several chunks and the retrieval under test is the product's. Indexing is
incremental, so a rerun into the same folder embeds nothing it has already embedded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from pathlib import Path

from index.chunker import chunk_article
from index.config import Settings
from index.embedders import Embedder
from index.pipeline import IndexSummary, index_lock, lexical_path, load_lexical
from index.store import ChunkStore
from index.types import Article, Chunk

log = logging.getLogger(__name__)

EVAL_COLLECTION = "eval"


def eval_settings(settings: Settings, out_dir: Path) -> Settings:
    """The user's settings pointed at the run folder's own embedded store."""
    return dataclasses.replace(
        settings, home=Path(out_dir) / "index", collection=EVAL_COLLECTION, chroma_url=""
    )


def corpus_chunks(corpus: dict[str, dict], settings: Settings) -> dict[str, Chunk]:
    """chunk_id -> Chunk for every document; a chunk's ``source`` is its document id."""
    desired: dict[str, Chunk] = {}
    for doc_id, doc in corpus.items():
        text = doc.get("text") or ""
        if not text.strip():
            continue
        article = Article(
            source=doc_id,
            title=doc.get("title") or "",
            date=None,
            author=None,
            body=text,
            content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        )
        for chunk in chunk_article(article, settings.chunk_tokens, settings.chunk_overlap):
            desired[chunk.chunk_id] = chunk
    return desired


def index_corpus(
    corpus: dict[str, dict],
    settings: Settings,
    embedder: Embedder,
    *,
    progress: bool = False,
) -> IndexSummary:
    """Make the eval collection hold exactly ``corpus``, embedding only new chunks."""
    started = time.perf_counter()
    store = ChunkStore(settings, embedder.identity)
    summary = IndexSummary(embedder=embedder.identity, store=store.location)
    with index_lock(settings):
        stored = store.stored_embedder()
        if stored and stored != embedder.identity:
            # Derived data of this run folder only: rebuild rather than refuse.
            log.warning("eval index built with %s, rebuilding for %s", stored, embedder.identity)
            store.drop()
            lexical_path(settings).unlink(missing_ok=True)
        desired = corpus_chunks(corpus, settings)
        existing = store.id_sources()
        to_add = [c for cid, c in desired.items() if cid not in existing]
        stale = [cid for cid in existing if cid not in desired]
        from tqdm import tqdm

        bar = tqdm(total=len(to_add), disable=not (progress and to_add), desc="Nhúng", unit="đoạn")
        batch = max(1, embedder.batch_size)
        for start in range(0, len(to_add), batch):
            part = to_add[start : start + batch]
            store.upsert(part, embedder.embed_passages([c.embedding_text() for c in part]))
            bar.update(len(part))
        bar.close()
        if stale:
            store.delete(stale)
        load_lexical(store, settings, ids=list(desired), in_memory=desired)
        summary.files = len({c.source for c in desired.values()})
        summary.chunks = len(desired)
        summary.new = len(to_add)
        summary.unchanged = len(desired) - len(to_add)
        summary.removed = len(stale)
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary
