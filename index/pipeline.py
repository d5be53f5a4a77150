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
from index.prepare import PrepareOptions, Task, prepare_files, worker_count
from index.private import private_dir
from index.repair import repair_vector_index
from index.sources import Document
from index.sources.web import (
    NotModified,
    WebOptions,
    collect,
    is_web_address,
    load_validators,
    save_validators,
)
from index.store import ChunkStore
from index.store_process import STORE_PROCESS_MIN_FILES, StoreProcess
from index.types import Chunk

log = logging.getLogger(__name__)
LEXICAL_FILE = "bm25.npz"
MANIFEST_FILE = "manifest.json"
WEB_STATE_FILE = "web.json"  # ETag / Last-Modified of each page fetched
LEGACY_LEXICAL_FILE = "bm25.json.gz"  # format 2 (texts only, re-tokenized on load): replaced


@dataclass
class IndexSummary:
    """What one run did. ``files`` counts the files and web pages read."""

    files: int = 0
    pages: int = 0  # of those, web articles (fetched, or answered 304 Not Modified)
    articles_new: int = 0
    articles_changed: int = 0
    articles_unchanged: int = 0
    articles_removed: int = 0
    chunks: int = 0  # chunks in the store after the run
    new: int = 0  # chunks embedded in this run
    unchanged: int = 0
    removed: int = 0
    errors: list[str] = field(default_factory=list)  # one line per skipped input, with why
    repaired: int = 0  # chunks whose damaged vector index was rebuilt from their stored text
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


def _progress(total: int | None, enabled: bool, desc: str, unit: str = "đoạn"):
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


@dataclass
class _Gathered:
    """Everything a run will read: file tasks, fetched pages, and what already failed."""

    tasks: list[Task] = field(default_factory=list)
    slots: list[FileError | None] = field(default_factory=list)  # None: the next task's turn
    errors: list[FileError] = field(default_factory=list)
    sources_seen: set[str] = field(default_factory=set)
    not_modified: list[NotModified] = field(default_factory=list)
    listing_failed: bool = False
    pages: int = 0
    validators: dict[str, dict[str, str]] = field(default_factory=dict)
    has_paths: bool = False  # local files or folders were given
    web_listed: set[str] = field(default_factory=set)  # web articles this run's addresses listed

    def prunable(self, source: str) -> bool:
        """Whether --prune may remove this article when the run did not see it: a file when
        files were indexed, a web article when an address of this run listed it before (a
        feed's run never removes the files or another feed's articles)."""
        if is_web_address(source):
            return source in self.web_listed
        return self.has_paths

    def add(self, origin: Path | Document, where: Path | str, source: str, known: str | None):
        """One article to read, unless another one already took its name (two addresses
        of one web article, e.g. with tracking parameters, share its canonical address)."""
        if source in self.sources_seen and isinstance(origin, Document):
            return
        if source in self.sources_seen:
            self.slots.append(
                FileError(
                    where,
                    f"another file is already indexed as {source!r}; rename one",
                    f"đã có tệp khác mang tên {source!r}; hãy đổi tên một tệp",
                )
            )
            return
        self.sources_seen.add(source)
        self.slots.append(None)
        self.tasks.append((origin, source, known))


def web_state_path(settings: Settings) -> Path:
    return settings.lexical_dir / f"{settings.collection}-{WEB_STATE_FILE}"


def _web_options(settings: Settings) -> WebOptions:
    return WebOptions(
        delay=settings.web_delay,
        timeout=settings.web_timeout,
        max_pages=settings.web_max_pages,
        max_bytes=int(settings.max_file_mb * MIB),
    )


def _gather(
    paths: list[str | Path], settings: Settings, manifest: Manifest | None, progress: bool = False
) -> _Gathered:
    """Files found under the local paths, then the articles behind the web addresses
    (asked for conditionally when the store holds what was fetched before)."""
    gathered = _Gathered()
    addresses = [str(p) for p in paths if is_web_address(str(p))]
    local = [Path(p) for p in paths if str(p) not in addresses]
    files, gathered.errors = discover_sources(local)
    gathered.has_paths = bool(local)
    known_files = manifest.files if manifest is not None else {}
    for path, source in files:
        gathered.add(path, path, source, known_files.get(source))
    if not addresses:
        return gathered
    saved = load_validators(web_state_path(settings))
    gathered.web_listed = {
        v.get("source", "")
        for url, v in saved.items()
        if v.get("listing") in addresses or url in addresses
    }
    known = {url: v for url, v in saved.items() if v.get("source") in known_files}
    bar = _progress(None, progress, "Tải trang web", unit=" trang") if progress else None
    try:
        on_page = bar.update if bar is not None else None
        web = collect(addresses, _web_options(settings), known, on_page=on_page)
    finally:
        if bar is not None:
            bar.close()
    gathered.errors += web.errors
    gathered.listing_failed = web.listing_failed
    gathered.pages, gathered.validators = web.pages_read, web.validators
    gathered.sources_seen |= web.kept_sources
    for doc in web.documents:
        gathered.add(doc, doc.url or doc.source, doc.source, known_files.get(doc.source))
    for page in web.not_modified:
        if page.source not in gathered.sources_seen:
            gathered.sources_seen.add(page.source)
            gathered.not_modified.append(page)
    return gathered


def _guard_flags(gathered: _Gathered, prune: bool, rebuild: bool) -> tuple[bool, bool]:
    """A mistyped folder or an unreadable feed must not read as "every article was removed"."""
    if not (gathered.errors or gathered.listing_failed) or not (prune or rebuild):
        return prune, rebuild
    only_pages = not gathered.listing_failed and all(
        isinstance(e.path, str) for e in gathered.errors
    )
    if only_pages and not rebuild:
        return prune, rebuild  # single pages that failed keep their chunks under --prune
    flags = " and ".join(f for f, on in (("--prune", prune), ("--rebuild", rebuild)) if on)
    gathered.errors.append(
        FileError(
            Path(flags),
            "not applied because of the errors above; nothing was removed",
            "không thực hiện vì các lỗi trên; không xóa gì",
        )
    )
    return False, False


@dataclass
class _Progress:
    """What reading and storing found, file by file."""

    desired: dict[str, Chunk] = field(default_factory=dict)  # chunks of articles chunked now
    known_ids: set[str] = field(default_factory=set)  # chunks of articles unchanged
    digests: dict[str, str] = field(default_factory=dict)
    ok_sources: set[str] = field(default_factory=set)
    unchanged_sources: set[str] = field(default_factory=set)
    errors: list[FileError] = field(default_factory=list)


def _read_and_store(
    gathered: _Gathered,
    manifest: Manifest | None,
    existing: dict[str, str],
    writer: _StoreWriter,
    counted: LexicalBuilder | None,
    options: PrepareOptions,
    progress: bool,
) -> _Progress:
    """Read, clean and chunk each article; new chunks are embedded and stored as they come
    (while later files are chunked). On an error the store process is stopped, not waited
    for; the chunking workers are closed as soon as the last file is read."""
    done = _Progress()
    for page in gathered.not_modified:  # 304: same article, same chunks
        done.known_ids.update(manifest.chunks_of(page.source) if manifest else [])
        done.digests[page.source] = manifest.files.get(page.source, "") if manifest else ""
        done.ok_sources.add(page.source)
        done.unchanged_sources.add(page.source)
    bar, files_done = None, 0  # the bar appears with the first file that has new chunks
    with writer, closing(prepare_files(gathered.tasks, options)) as prepared:
        for slot in gathered.slots:
            if slot is not None:
                done.errors.append(slot)
                continue
            item = next(prepared)
            files_done += 1
            if bar is not None:
                bar.update(1)
            if item.error is not None:
                done.errors.append(item.error)
                continue
            done.digests[item.source] = item.digest or ""
            done.ok_sources.add(item.source)
            if item.unchanged:
                done.known_ids.update(manifest.chunks_of(item.source))  # same bytes, same chunks
                done.unchanged_sources.add(item.source)
                continue
            for chunk in item.chunks:
                if chunk.chunk_id not in existing and chunk.chunk_id not in done.desired:
                    writer.add(chunk)
                    if counted is not None:
                        counted.add(chunk)
                done.desired[chunk.chunk_id] = chunk
            if bar is None and writer.added and progress:
                bar = _progress(len(gathered.tasks), True, "Lập chỉ mục", unit="tệp")
                bar.update(files_done)
    if bar is not None:
        bar.close()
    return done


def _count_articles(
    summary: IndexSummary, done: _Progress, existing: dict[str, str], stale: set[str]
) -> None:
    """Articles, not chunks: new, changed, unchanged and removed by this run."""
    before: dict[str, set[str]] = {}
    for cid, src in existing.items():
        before.setdefault(src, set()).add(cid)
    now: dict[str, set[str]] = {}
    for cid, chunk in done.desired.items():
        now.setdefault(chunk.source, set()).add(cid)
    for source in done.ok_sources:
        if source in done.unchanged_sources or now.get(source) == before.get(source):
            summary.articles_unchanged += 1
        elif source in before:
            summary.articles_changed += 1
        else:
            summary.articles_new += 1
    summary.articles_removed = sum(
        1 for src, ids in before.items() if src not in done.ok_sources and ids <= stale
    )


def _open_manifest(settings: Settings, store: ChunkStore, chunking: str) -> Manifest | None:
    manifest = Manifest.load(manifest_path(settings))
    if manifest is not None and not manifest.trusted(store.generation(), chunking):
        return None
    return manifest


def _repair_vectors(
    settings: Settings, store: ChunkStore, embedder: Embedder, chunking: str
) -> int:
    """Rebuild a vector index that no longer answers for every record (see index.repair);
    the manifest keeps vouching for the store when it names exactly the chunks rewritten.
    Returns the number of chunks repaired (0: the index was sound)."""
    repaired = repair_vector_index(store, embedder)
    if repaired is None:
        return 0
    manifest = Manifest.load(manifest_path(settings))
    if (
        manifest is not None
        and manifest.chunking == chunking
        and set(manifest.chunks) == repaired.ids
    ):
        manifest.generation = repaired.generation
        manifest.save(manifest_path(settings))
    return len(repaired.ids)


def _drop_everything(settings: Settings, store: ChunkStore) -> None:
    store.drop()
    lexical_path(settings).unlink(missing_ok=True)
    manifest_path(settings).unlink(missing_ok=True)


def run_index(
    paths: list[Path | str],
    settings: Settings,
    *,
    prune: bool = False,
    rebuild: bool = False,
    progress: bool = False,
    embedder: Embedder | None = None,
) -> IndexSummary:
    """Index ``paths`` (files, folders, web pages, sitemaps, feeds) incrementally into the
    store of ``settings``."""
    started = time.perf_counter()
    embedder = embedder or get_embedder(settings.embedder, settings)
    store = ChunkStore(settings, embedder.identity)
    summary = IndexSummary(embedder=embedder.identity, store=store.location)
    chunking = chunking_key(settings.chunk_tokens, settings.chunk_overlap, embedder.identity)
    with index_lock(settings) as lock_fd:
        if not rebuild:
            summary.repaired = _repair_vectors(settings, store, embedder, chunking)
        # --rebuild asks for every page anew (no conditional requests).
        manifest = None if rebuild else _open_manifest(settings, store, chunking)
        gathered = _gather(paths, settings, manifest, progress)
        prune, rebuild = _guard_flags(gathered, prune, rebuild)
        if rebuild:
            _drop_everything(settings, store)
        generation = store.generation()
        # The manifest stands for the store's metadata while nobody else has written to it.
        existing_meta = dict(manifest.chunks) if manifest is not None else store.id_metadata()
        existing = {cid: str(meta.get("source", "")) for cid, meta in existing_meta.items()}
        options = PrepareOptions(
            int(settings.max_file_mb * MIB), settings.chunk_tokens, settings.chunk_overlap
        )
        separate = len(gathered.tasks) >= STORE_PROCESS_MIN_FILES and worker_count() >= 1
        writer = _StoreWriter(store, embedder, separate, lock_fd)
        # Into an empty store, the lexical index is counted while the chunks come, not after.
        counted = LexicalBuilder() if not existing else None
        done = _read_and_store(gathered, manifest, existing, writer, counted, options, progress)
        state = _Stored(settings, store, manifest, existing_meta, existing, generation, chunking)
        stale = state.apply(done, writer, counted, prune=prune, rebuild=rebuild, gathered=gathered)
        if gathered.validators or gathered.pages:
            _save_web_state(settings, gathered.validators, state.sources_after)
    summary.files = len(done.ok_sources)
    summary.pages = sum(1 for source in done.ok_sources if is_web_address(source))
    summary.errors = [str(e) for e in gathered.errors + done.errors]
    summary.new = len(writer.added)
    summary.unchanged = len(done.desired) - len(writer.added) + len(done.known_ids)
    summary.removed, summary.chunks = len(stale), state.chunk_count
    _count_articles(summary, done, existing, stale)
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


def _save_web_state(
    settings: Settings, validators: dict[str, dict[str, str]], sources: set[str]
) -> None:
    """Validators of pages whose articles the store still holds (others are fetched anew)."""
    merged = {**load_validators(web_state_path(settings)), **validators}
    save_validators(
        web_state_path(settings), {u: v for u, v in merged.items() if v.get("source") in sources}
    )


@dataclass
class _Stored:
    """The store before this run's changes, and the step that applies them."""

    settings: Settings
    store: ChunkStore
    manifest: Manifest | None
    existing_meta: dict[str, dict]
    existing: dict[str, str]
    generation: str
    chunking: str
    chunk_count: int = 0
    sources_after: set[str] = field(default_factory=set)

    def apply(
        self,
        done: _Progress,
        writer: _StoreWriter,
        counted: LexicalBuilder | None,
        *,
        prune: bool,
        rebuild: bool,
        gathered: _Gathered,
    ) -> set[str]:
        """Refresh moved metadata, delete stale chunks, bring the lexical index and the
        manifest up to date; returns the stale chunk ids removed."""
        to_add = writer.added
        # Unchanged passages of an edited article keep their vectors but may have moved
        # (position) or belong to a new version (hash, author): refresh their metadata.
        moved = [
            c
            for cid, c in done.desired.items()
            if cid in self.existing and self.existing_meta[cid] != c.metadata()
        ]
        # Stale: chunks of re-indexed articles no longer produced, and with --prune, chunks
        # of articles that are gone. Articles that failed to load keep their old chunks.
        wanted = set(done.desired) | done.known_ids
        stale = {
            cid
            for cid, src in self.existing.items()
            if cid not in wanted
            and (
                src in done.ok_sources
                or (prune and src not in gathered.sources_seen and gathered.prunable(src))
            )
        }
        changes = bool(rebuild or to_add or stale or moved)
        if changes and not writer.bumped:
            self.store.bump_generation()  # before the first write: see _StoreWriter
        self.store.update_metadata(moved)
        if stale:
            self.store.delete(sorted(stale))
        ids = [cid for cid in self.existing if cid not in stale] + [c.chunk_id for c in to_add]
        self._lexical(ids, changes, done, counted)
        if changes or not self.generation:  # running servers reload what changed
            self.generation = self.store.bump_generation()
        _save_manifest(
            self.settings,
            self.generation,
            self.chunking,
            fingerprint(ids),
            self.existing_meta,
            stale,
            done.desired,
            self.manifest,
            done.digests,
        )
        self.chunk_count = len(ids)
        kept = {src for cid, src in self.existing.items() if cid not in stale}
        self.sources_after = kept | {c.source for c in done.desired.values()}
        return stale

    def _lexical(
        self, ids: list[str], changes: bool, done: _Progress, counted: LexicalBuilder | None
    ) -> None:
        lexical_now = fingerprint(ids)
        current = (
            self.manifest is not None
            and self.manifest.lexical == lexical_now
            and lexical_path(self.settings).is_file()
        )
        if changes or not current:
            load_lexical(
                self.store, self.settings, ids=ids, in_memory=done.desired, counted=counted
            )
