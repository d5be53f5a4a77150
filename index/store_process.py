"""Chroma writes of a large index run, in a child process of their own.

An upsert holds the interpreter lock for its whole duration (about 1.3 ms a chunk), so in
one process the embedding, the lexical tokenization and the store's writes take turns. A
child process that only writes lets the main process embed and tokenize the next batch
while the previous one is being stored.

The child is the only writer while it runs: the main process bumps the store's generation
before starting it and reopens its own client after it has exited (an embedded store's
vector index lives in each process' memory). The index lock's descriptor is handed to the
child, so the data dir stays locked until the child is gone, even if the main process is
killed; a child whose parent died stops after the batch it is writing.
"""

from __future__ import annotations

import importlib
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Sequence

import numpy as np

from index.config import Settings
from index.errors import HoidapError
from index.types import Chunk

# Below this many files an index run writes in-process (the child's start-up would dominate).
STORE_PROCESS_MIN_FILES = 200
# Batches queued for the child: enough to keep it busy, few enough to bound memory.
QUEUED_BATCHES = 2
_CLOSE = "close"


def _failure(exc: BaseException) -> tuple[str, str, str, str, str | None]:
    """An error as plain strings (a HoidapError's Vietnamese message and code survive)."""
    if isinstance(exc, HoidapError):
        cls = type(exc)
        return (cls.__module__, cls.__qualname__, exc.message_en, exc.message_vi, exc.code)
    return ("", "", f"{type(exc).__name__}: {exc}", "", None)


def _rebuild(failure: tuple[str, str, str, str, str | None]) -> HoidapError:
    module, name, message_en, message_vi, code = failure
    cls: type = HoidapError
    if module:
        found = getattr(importlib.import_module(module), name, None)
        if isinstance(found, type) and issubclass(found, HoidapError):
            cls = found
    return cls(message_en, message_vi or None, code=code)


class StoreProcess:
    """Upserts chunks and their vectors through a child process; ``close`` waits for it.

    ``upsert`` returns as soon as the batch is queued (it blocks only while
    ``QUEUED_BATCHES`` are already waiting); the child's error, if any, is raised by the
    next ``upsert`` or by ``close``."""

    def __init__(self, settings: Settings, embedder_identity: str, lock_fd: int | None = None):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from index.store_process import _serve; _serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            pass_fds=(lock_fd,) if lock_fd is not None else (),
        )
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUED_BATCHES)
        self._stderr: list[bytes] = []
        self._broken = False
        self._outcome: int | HoidapError | None = None
        pickle.dump((settings, embedder_identity), self.proc.stdin)
        self._feeder = threading.Thread(target=self._feed, daemon=True)
        self._feeder.start()
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()

    def _feed(self) -> None:
        """Writes queued batches to the child (a full pipe blocks this thread only)."""
        while True:
            item = self._queue.get()
            try:
                if not self._broken:
                    pickle.dump(item, self.proc.stdin)
                    self.proc.stdin.flush()
                if item == _CLOSE:
                    self.proc.stdin.close()
                    return
            except (BrokenPipeError, OSError):  # the child died: close() says why
                self._broken = True
                if item == _CLOSE:
                    return

    def _drain(self) -> None:
        self._stderr.append(self.proc.stderr.read())

    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        if self._broken or self.proc.poll() is not None:
            self.close()  # raises the child's error
        self._queue.put((list(chunks), np.asarray(vectors, dtype=np.float32)))

    def close(self) -> int:
        """Waits until every queued batch is stored; the number of chunks the child wrote."""
        if self._outcome is None:
            self._outcome = self._finish()
        if isinstance(self._outcome, HoidapError):
            raise self._outcome
        return self._outcome

    def abort(self) -> None:
        """Stops the child now; what it had not written stays unwritten."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._broken = True
        if self._outcome is None:
            self._outcome = HoidapError("the store writer was stopped", code="index_worker_failed")
        self._queue.put(_CLOSE)  # lets the feeder thread end

    def _finish(self) -> int | HoidapError:
        if self._feeder.is_alive():
            self._queue.put(_CLOSE)
            self._feeder.join()
        try:
            status, value = pickle.load(self.proc.stdout)
        except (EOFError, pickle.UnpicklingError):
            status, value = "died", None
        self.proc.wait()
        self._drainer.join(timeout=10)
        if status == "ok":
            return int(value)
        if status == "error":
            return _rebuild(value)
        tail = b"".join(self._stderr).decode("utf-8", "replace")[-2000:]
        return HoidapError(
            f"The store writer process stopped (exit code {self.proc.returncode}); the chunks "
            f"it had not written are not in the store. Run `hoidap index` again; its output "
            f"was: {tail}",
            "Tiến trình ghi kho dữ liệu đã dừng giữa chừng; các đoạn chưa ghi không có trong "
            "kho. Hãy chạy lại `hoidap index`.",
            code="index_worker_failed",
        )


def _serve() -> None:
    """The child: (settings, identity), then batches until "close"; answers once on stdout.

    EOF without "close" means the parent died: stop without touching anything more."""
    from index.store import ChunkStore

    stdin = sys.stdin.buffer
    stdout = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print cannot corrupt stdout
    written = 0
    try:
        settings, identity = pickle.load(stdin)
        store = ChunkStore(settings, identity)
        while True:
            try:
                item = pickle.load(stdin)
            except (EOFError, pickle.UnpicklingError):
                return
            if item == _CLOSE:
                break
            chunks, vectors = item
            store.upsert(chunks, vectors)
            written += len(chunks)
    except BaseException as exc:  # reported to the parent, which raises it
        pickle.dump(("error", _failure(exc)), stdout)
        stdout.flush()
        return
    pickle.dump(("ok", written), stdout)
    stdout.flush()
