"""Read, clean and chunk article files, in a worker process when there are many.

Storing is the index run's other half: Chroma holds the interpreter lock while it writes
(measured: a Python thread made almost no progress beside an upsert), so on a multi-core
machine the pure-Python half (reading, cleaning, chunking with token counts) goes to worker
processes while the main process embeds and stores what they have already chunked. Small
runs stay in one process: starting a worker costs about a second.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from index.chunker import chunk_article
from index.clean import clean_document
from index.errors import HoidapError
from index.loader import FileError
from index.manifest import file_digest
from index.sources import Document, read_document
from index.types import Chunk

# Below this many files the work stays in-process (a worker's start-up would dominate).
WORKER_MIN_FILES = 200
# Files per task sent to the worker: large enough that pickling is not the cost, small
# enough that the main process gets work early.
TASK_FILES = 16


# Where an article comes from: a file to read, or a document already read (a fetched page).
Origin = Path | Document
Task = tuple[Origin, str, str | None]  # (origin, source name, digest the manifest records)


@dataclass
class PreparedFile:
    """One article's outcome: its chunks, or "unchanged since the manifest", or an error."""

    path: Path | str
    source: str
    digest: str | None = None
    unchanged: bool = False  # same bytes as the manifest records: not cleaned or chunked
    chunks: list[Chunk] = field(default_factory=list)
    error: FileError | None = None


@dataclass(frozen=True)
class PrepareOptions:
    max_bytes: int
    chunk_tokens: int
    chunk_overlap: int


def prepare_file(
    origin: Origin, source: str, known_digest: str | None, options: PrepareOptions
) -> PreparedFile:
    """Read one article and, unless its bytes are those of ``known_digest``, clean and chunk it."""
    where = origin.url or origin.source if isinstance(origin, Document) else origin
    doc = (
        origin if isinstance(origin, Document) else read_document(origin, source, options.max_bytes)
    )
    if isinstance(doc, FileError):
        return PreparedFile(where, source, error=doc)
    digest = file_digest(doc.data)
    if known_digest is not None and known_digest == digest:
        return PreparedFile(where, source, digest=digest, unchanged=True)
    article, _ = clean_document(doc)
    if not article.body.strip():
        error = FileError(
            where,
            "no article text left after cleaning (only page furniture)",
            "không còn nội dung bài viết sau khi làm sạch",
        )
        return PreparedFile(where, source, error=error)
    chunks = chunk_article(article, options.chunk_tokens, options.chunk_overlap)
    return PreparedFile(where, source, digest=digest, chunks=chunks)


def _prepare_many(tasks: list[Task], options: PrepareOptions) -> list[PreparedFile]:
    return [prepare_file(path, source, known, options) for path, source, known in tasks]


def worker_count() -> int:
    """Worker processes for a large run: one per core beyond the main process' own."""
    return max(0, min(4, (os.cpu_count() or 1) - 1))


class _Worker:
    """A child Python process fed pickled tasks on stdin, answering on stdout.

    A plain child process rather than multiprocessing: nothing of the caller's main module
    is re-imported or re-run in it, and nothing is forked from a process running Chroma's
    threads."""

    def __init__(self, tasks: list[list[Task]], options: PrepareOptions):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from index.prepare import _serve; _serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self._stderr: list[bytes] = []
        # Tasks are written from a thread so that a full pipe never blocks both sides.
        threading.Thread(target=self._feed, args=(tasks, options), daemon=True).start()
        threading.Thread(target=self._drain, daemon=True).start()

    def _feed(self, tasks, options) -> None:
        try:
            for task in tasks:
                pickle.dump((task, options), self.proc.stdin)
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):  # the worker died: reported by result()
            pass

    def _drain(self) -> None:
        self._stderr.append(self.proc.stderr.read())

    def result(self) -> list[PreparedFile]:
        try:
            return pickle.load(self.proc.stdout)
        except (EOFError, pickle.UnpicklingError) as exc:
            self.proc.wait(timeout=30)
            tail = b"".join(self._stderr).decode("utf-8", "replace")[-2000:]
            raise HoidapError(
                f"The indexing worker process stopped (exit code {self.proc.returncode}); "
                f"nothing of this run's unfinished files was stored. Run `hoidap index` again; "
                f"its output was: {tail}",
                "Tiến trình phụ lập chỉ mục đã dừng giữa chừng; các tệp chưa xong chưa được lưu. "
                "Hãy chạy lại `hoidap index`.",
                code="index_worker_failed",
            ) from exc

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


def prepare_files(
    files: Iterable[Task],
    options: PrepareOptions,
    workers: int | None = None,
) -> Iterator[PreparedFile]:
    """``PreparedFile`` for each (origin, source, manifest digest), in the order given."""
    files = list(files)
    workers = worker_count() if workers is None else workers
    if workers < 1 or len(files) < WORKER_MIN_FILES:
        for path, source, known in files:
            yield prepare_file(path, source, known, options)
        return
    tasks = [files[i : i + TASK_FILES] for i in range(0, len(files), TASK_FILES)]
    n = min(workers, len(tasks))
    # Task i goes to worker i mod n, so reading the workers in turn keeps the files' order.
    pool = [_Worker(tasks[w::n], options) for w in range(n)]
    try:
        for i in range(len(tasks)):
            yield from pool[i % n].result()
    finally:
        for worker in pool:
            worker.close()


def _serve() -> None:
    """The worker's loop: (task, options) in, its ``PreparedFile`` list out, until EOF.

    Results go to a private copy of the stdout descriptor; anything else the process
    prints lands on stderr, so a stray print cannot corrupt the result stream."""
    stdin = sys.stdin.buffer
    stdout = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    while True:
        try:
            task, options = pickle.load(stdin)
        except EOFError:
            return
        pickle.dump(_prepare_many(task, options), stdout)
        stdout.flush()
