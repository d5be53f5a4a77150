"""``hoidap index``: load → clean → chunk → embed only what is new → store → lexical index.

Crash safety: new chunks are written before stale ones are deleted, Chroma commits
each batch, and the lexical index is derived data written atomically and rebuilt
whenever it disagrees with the store. A run killed at any point leaves a store the
next run completes; it never leaves a half-written file.
"""

from __future__ import annotations

import fcntl
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from index.config import Settings
from index.embedders import Embedder, get_embedder
from index.errors import HoidapError
from index.lexical import LexicalBuilder, LexicalIndex, fingerprint
from index.loader import MIB, FileError, discover_sources
from index.manifest import Manifest, chunking_key
from index.prepare import PrepareOptions, prepare_files, worker_count
from index.private import private_dir
from index.store import ChunkStore
from index.store_process import STORE_PROCESS_MIN_FILES, StoreProcess
from index.types import Chunk

log = logging.getLogger(__name__)
LEXICAL_FILE = "bm25.npz"
MANIFEST_FILE = "manifest.json"
LEGACY_LEXICAL_FILE = "bm25.json.gz"  # format 2 (texts only, re-tokenized on load): replaced


@dataclass
class IndexSummary:
    files: int = 0
    chunks: int = 0  # chunks in the store after the run
    new: int = 0  # chunks embedded in this run
    unchanged: int = 0
    removed: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    embedder: str = ""
    store: str = ""

    def to_json(self) -> dict:
        return asdict(self)


@contextmanager
def index_lock(settings: Settings) -> Iterator[int]:
    """One writer at a time per data directory; yields the lock's descriptor (a child
    process that inherits it keeps the directory locked until it exits)."""
    private_dir(settings.home)
    with open(settings.home / ".index.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise HoidapError(
                f"Another `hoidap index` is running on {settings.home}; wait for it to finish.",
                f"Một tiến trình `hoidap index` khác đang chạy trên {settings.home}; hãy đợi nó xong.",
                code="index_busy",
            ) from exc
        yield fh.fileno()


def manifest_path(settings: Settings) -> Path:
    return settings.lexical_dir / f"{settings.collection}-{MANIFEST_FILE}"


def _save_manifest(
    settings: Settings,
    generation: str,
    chunking: str,
    lexical: str,
    existing_meta: dict[str, dict],
    stale: set[str],
    desired: dict[str, Chunk],
    previous: Manifest | None,
    digests: dict[str, str],
) -> None:
    """What the store holds after this run: every chunk's metadata and each file's hash
    (files not read in this run keep the hash recorded before, if any)."""
    chunks = {cid: meta for cid, meta in existing_meta.items() if cid not in stale}
    chunks.update({cid: c.metadata() for cid, c in desired.items()})
    sources = {str(meta.get("source", "")) for meta in chunks.values()}
    files = {src: h for src, h in (previous.files if previous else {}).items() if src in sources}
    files.update({src: h for src, h in digests.items() if src in sources})
    Manifest(generation, chunking, lexical, files, chunks).save(manifest_path(settings))


def lexical_path(settings: Settings) -> Path:
    return settings.lexical_dir / f"{settings.collection}-{LEXICAL_FILE}"


def load_lexical(
    store: ChunkStore,
    settings: Settings,
    *,
    ids: list[str] | None = None,
    in_memory: dict[str, Chunk] | None = None,
    counted: LexicalBuilder | None = None,
) -> LexicalIndex:
    """The lexical index matching the store: the saved one, brought up to date with the
    chunks added to or removed from the store since (only those are read and tokenized),
    or rebuilt when missing or unreadable. Chunks in ``in_memory`` (those an index run
    just chunked) are not read back from the store; ``counted`` (an index run into an
    empty store counts its chunks as they come) is used when it holds exactly ``ids``."""
    path = lexical_path(settings)
    if counted is not None and ids is not None and counted.fingerprint == fingerprint(ids):
        return _saved(counted.build(), settings)
    lex = LexicalIndex.load(path)
    if ids is None:  # opening: the manifest of the last index run vouches for the store
        manifest = Manifest.load(manifest_path(settings))
        if (
            lex is not None
            and manifest is not None
            and manifest.lexical == lex.fingerprint
            and manifest.generation == store.generation()
        ):
            return lex
        ids = list(store.id_sources())
    in_memory = in_memory or {}

    def chunks(wanted: list[str]) -> list[Chunk]:
        missing = [cid for cid in wanted if cid not in in_memory]
        read = {c.chunk_id: c for c in store.get_chunks(missing)} if missing else {}
        return [c for cid in wanted if (c := in_memory.get(cid) or read.get(cid)) is not None]

    current = fingerprint(ids)
    if lex is not None and lex.fingerprint == current:
        return lex
    if lex is not None:
        indexed, wanted = set(lex.chunk_ids), set(ids)
        lex = lex.updated(indexed - wanted, chunks([cid for cid in ids if cid not in indexed]))
    if lex is None:
        ordered = sorted(chunks(ids), key=lambda c: (c.source, c.position))
        lex = LexicalIndex.from_chunks(ordered)
    if lex.fingerprint != current:  # the store moved meanwhile: read it all
        lex = LexicalIndex.from_chunks(store.all_chunks())
    return _saved(lex, settings)


def _saved(lex: LexicalIndex, settings: Settings) -> LexicalIndex:
    lex.save(lexical_path(settings))
    (settings.lexical_dir / f"{settings.collection}-{LEGACY_LEXICAL_FILE}").unlink(missing_ok=True)
    return lex


def _progress(total: int, enabled: bool, desc: str, unit: str = "đoạn"):
    from tqdm import tqdm

    terminal = sys.stderr.isatty()
    return tqdm(
        total=total,
        disable=not enabled,
        desc=desc,
        unit=unit,
        leave=not terminal,  # in a log (make run, CI) the last line stays as the record
        mininterval=0.1 if terminal else 5.0,
        ascii=not terminal,
    )


class _StoreWriter:
    """Embeds and stores new chunks in batches as they come.

    The store's generation is bumped before the first write, so a run killed half-way
    leaves a store that no manifest describes (the next run then reads the store). With
    ``separate`` (large runs), the writes go through a ``StoreProcess``; ``close`` waits
    for it and reopens this process' client, which has not seen them."""

    def __init__(
        self, store: ChunkStore, embedder: Embedder, separate: bool = False, lock_fd: int = -1
    ):
        self.store, self.embedder = store, embedder
        self.separate, self.lock_fd = separate, lock_fd
        self._process: StoreProcess | None = None
        self.added: list[Chunk] = []
        self.bumped = False
        self._pending: list[Chunk] = []
        self._vectors: list[np.ndarray] = []
        self._unembedded: list[Chunk] = []

    def add(self, chunk: Chunk) -> None:
        self.added.append(chunk)
        self._unembedded.append(chunk)
        if len(self._unembedded) >= max(1, self.embedder.batch_size):
            self._embed()
        if len(self._pending) >= self.embedder.store_batch:
            self._store()

    def _embed(self) -> None:
        part, self._unembedded = self._unembedded, []
        if part:
            self._vectors.append(self.embedder.embed_passages([c.embedding_text() for c in part]))
            self._pending += part

    def _store(self) -> None:
        if not self._pending:
            return
        if not self.bumped:
            self.store.bump_generation()
            self.bumped = True
            if self.separate:
                self._process = StoreProcess(
                    self.store.settings, self.embedder.identity, self.lock_fd
                )
        sink = self._process or self.store
        sink.upsert(self._pending, np.concatenate(self._vectors))
        self._pending, self._vectors = [], []

    def close(self) -> None:
        try:
            self._embed()
            self._store()
        finally:
            if self._process is not None:
                try:
                    self._process.close()
                finally:
                    self.store.reopen()

    def abort(self) -> None:
        """After an error: the batches not yet written are dropped, as a kill would."""
        if self._process is not None:
            self._process.abort()
            self.store.reopen()

    def __enter__(self) -> _StoreWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def run_index(
    paths: list[Path],
    settings: Settings,
    *,
    prune: bool = False,
    rebuild: bool = False,
    progress: bool = False,
    embedder: Embedder | None = None,
) -> IndexSummary:
    """Index ``paths`` incrementally into the store of ``settings``."""
    started = time.perf_counter()
    embedder = embedder or get_embedder(settings.embedder, settings)
    store = ChunkStore(settings, embedder.identity)
    summary = IndexSummary(embedder=embedder.identity, store=store.location)
    max_bytes = int(settings.max_file_mb * MIB)

    with index_lock(settings) as lock_fd:
        files, errors = discover_sources(paths)
        if errors and (prune or rebuild):
            # A mistyped or empty folder must not read as "every article was removed".
            flags = " and ".join(f for f, on in (("--prune", prune), ("--rebuild", rebuild)) if on)
            errors.append(
                FileError(
                    Path(flags),
                    "not applied because of the errors above; nothing was removed",
                    "không thực hiện vì các lỗi trên; không xóa gì",
                )
            )
            prune = rebuild = False
        if rebuild:
            store.drop()
            lexical_path(settings).unlink(missing_ok=True)
            manifest_path(settings).unlink(missing_ok=True)
        chunking = chunking_key(settings.chunk_tokens, settings.chunk_overlap, embedder.identity)
        generation = store.generation()
        manifest = Manifest.load(manifest_path(settings))
        if manifest is not None and not manifest.trusted(generation, chunking):
            manifest = None
        # The manifest stands for the store's metadata while nobody else has written to it.
        existing_meta = dict(manifest.chunks) if manifest is not None else store.id_metadata()
        existing = {cid: str(meta.get("source", "")) for cid, meta in existing_meta.items()}
        desired: dict[str, Chunk] = {}  # chunks of files read and chunked in this run
        known_ids: set[str] = set()  # chunks of files unchanged since the manifest
        digests: dict[str, str] = {}
        sources_seen: set[str] = set()
        ok_sources: set[str] = set()
        # A file whose name another file already took is refused before anything is read.
        slots: list[FileError | None] = []
        tasks: list[tuple[Path, str, str | None]] = []
        for path, source in files:
            if source in sources_seen:
                slots.append(
                    FileError(
                        path,
                        f"another file is already indexed as {source!r}; rename one",
                        f"đã có tệp khác mang tên {source!r}; hãy đổi tên một tệp",
                    )
                )
                continue
            sources_seen.add(source)
            slots.append(None)
            tasks.append((path, source, manifest.files.get(source) if manifest else None))
        options = PrepareOptions(max_bytes, settings.chunk_tokens, settings.chunk_overlap)
        separate = len(tasks) >= STORE_PROCESS_MIN_FILES and worker_count() >= 1
        writer = _StoreWriter(store, embedder, separate, lock_fd)
        # Into an empty store, the lexical index is counted while the chunks come, not after.
        counted = LexicalBuilder() if not existing else None
        bar, files_done = None, 0  # the bar appears with the first file that has new chunks
        # On an error the store process is stopped, not waited for; the chunking workers are
        # closed (and reaped) as soon as the last file is read, not when the run ends.
        with writer, closing(prepare_files(tasks, options)) as prepared:
            for slot in slots:
                if slot is not None:
                    errors.append(slot)
                    continue
                done = next(prepared)
                files_done += 1
                if bar is not None:
                    bar.update(1)
                if done.error is not None:
                    errors.append(done.error)
                    continue
                digests[done.source] = done.digest or ""
                ok_sources.add(done.source)
                if done.unchanged:
                    known_ids.update(manifest.chunks_of(done.source))  # same bytes, same chunks
                    continue
                for chunk in done.chunks:
                    if chunk.chunk_id not in existing and chunk.chunk_id not in desired:
                        writer.add(chunk)  # embedded and stored while later files are chunked
                        if counted is not None:
                            counted.add(chunk)
                    desired[chunk.chunk_id] = chunk
                if bar is None and writer.added and progress:
                    bar = _progress(len(tasks), True, "Lập chỉ mục", unit="tệp")
                    bar.update(files_done)
        if bar is not None:
            bar.close()
        summary.files = len(ok_sources)
        summary.errors = [str(e) for e in errors]

        to_add = writer.added
        summary.unchanged = len(desired) - len(to_add) + len(known_ids)
        # Unchanged passages of an edited article keep their vectors but may have moved
        # (position) or belong to a new version (hash, author): refresh their metadata.
        moved = [
            c
            for cid, c in desired.items()
            if cid in existing and existing_meta[cid] != c.metadata()
        ]
        # Stale: chunks of re-indexed files that are no longer produced, and with --prune,
        # chunks of files that are gone. Files that failed to load keep their old chunks.
        wanted = set(desired) | known_ids
        stale = [
            cid
            for cid, src in existing.items()
            if cid not in wanted and (src in ok_sources or (prune and src not in sources_seen))
        ]
        changes = bool(rebuild or to_add or stale or moved)
        if changes and not writer.bumped:
            store.bump_generation()  # before the first write: see _StoreWriter
        store.update_metadata(moved)
        summary.new = len(to_add)
        if stale:
            store.delete(stale)
        summary.removed = len(stale)
        stale_set = set(stale)
        ids = [cid for cid in existing if cid not in stale_set] + [c.chunk_id for c in to_add]
        lexical_now = fingerprint(ids)
        lexical_current = (
            manifest is not None
            and manifest.lexical == lexical_now
            and lexical_path(settings).is_file()
        )
        if changes or not lexical_current:
            load_lexical(store, settings, ids=ids, in_memory=desired, counted=counted)
        if changes or not generation:  # running servers reload what changed
            generation = store.bump_generation()
        _save_manifest(
            settings,
            generation,
            chunking,
            lexical_now,
            existing_meta,
            stale_set,
            desired,
            manifest,
            digests,
        )
        summary.chunks = len(ids)
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary
