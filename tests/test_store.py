"""The Chroma store (embedded PersistentClient): round trips, cosine scores, embedder identity."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from index.config import Settings
from index.errors import ConfigError, EmbedderMismatch, StoreUnavailable
from index.pipeline import run_index
from index.store import TEXT_KEY, ChunkStore
from index.types import Chunk

PAGES = Path(__file__).resolve().parent / "data" / "pages"


def _chunk(i: int, source: str = "a.txt", date: str | None = "2023-01-02") -> Chunk:
    return Chunk(
        chunk_id=f"id-{source}-{i}",
        source=source,
        title=f"Tiêu đề {source}",
        date=date,
        author=None if i % 2 else "Tác giả",
        text=f"Đoạn văn số {i} về chuyển đổi số.",
        position=i,
        article_hash="h" * 64,
        n_tokens=10 + i,
    )


def _vectors(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    m = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


@pytest.fixture
def store(fake_settings: Settings) -> ChunkStore:
    return ChunkStore(fake_settings, "fake:test")


def test_embedded_store_lives_under_the_data_dir_with_telemetry_off(store: ChunkStore) -> None:
    store.upsert([_chunk(0)], _vectors(1))
    assert store.location == str(store.settings.store_dir)
    assert store.settings.store_dir.is_relative_to(store.settings.home)
    assert any(store.settings.store_dir.iterdir())
    assert store.client.get_settings().anonymized_telemetry is False


def test_chunks_round_trip_with_their_metadata(store: ChunkStore) -> None:
    chunks = [_chunk(i) for i in range(3)] + [_chunk(0, source="b.txt", date=None)]
    store.upsert(chunks, _vectors(4))
    assert store.count() == 4
    assert store.all_chunks() == sorted(chunks, key=lambda c: (c.source, c.position))
    assert store.id_sources() == {c.chunk_id: c.source for c in chunks}
    assert store.id_metadata()["id-b.txt-0"]["date"] == ""  # Chroma has no None


def test_texts_are_kept_out_of_chromas_full_text_documents(store: ChunkStore) -> None:
    """Chroma indexes documents for full-text search, which costs write time and disk;
    texts live in the metadata instead, and metadata reads used for change detection
    do not carry them."""
    store.upsert([_chunk(0), _chunk(1)], _vectors(2))
    raw = store.collection.get(ids=["id-a.txt-0"], include=["documents", "metadatas"])
    assert raw["documents"] == [None]
    assert raw["metadatas"][0][TEXT_KEY] == _chunk(0).text
    assert TEXT_KEY not in store.id_metadata()["id-a.txt-0"]
    assert store.id_metadata()["id-a.txt-0"] == _chunk(0).metadata()
    assert store.get_chunks(["id-a.txt-1"]) == [_chunk(1)]
    assert store.query(_vectors(2)[1], k=1)[0][0] == _chunk(1)


def test_a_collection_written_with_documents_still_reads_its_texts(store: ChunkStore) -> None:
    """Indexes built before texts moved into the metadata keep working without a rebuild,
    also when new chunks are added to them."""
    old = [_chunk(0), _chunk(1)]
    store.collection.upsert(
        ids=[c.chunk_id for c in old],
        embeddings=_vectors(2),
        documents=[c.text for c in old],
        metadatas=[c.metadata() for c in old],
    )
    store.upsert([_chunk(2)], _vectors(3)[2:])
    assert store.all_chunks() == [_chunk(0), _chunk(1), _chunk(2)]
    assert store.chunks_of_sources(["a.txt"])["a.txt"] == [_chunk(0), _chunk(1), _chunk(2)]
    assert store.query(_vectors(3)[0], k=1)[0][0] == _chunk(0)


def test_query_returns_cosine_similarity(store: ChunkStore) -> None:
    vectors = _vectors(5)
    chunks = [_chunk(i) for i in range(5)]
    store.upsert(chunks, vectors)
    hits = store.query(vectors[3], k=2)
    assert hits[0][0] == chunks[3]
    assert hits[0][1] == pytest.approx(1.0, abs=1e-5)
    assert hits[1][1] == pytest.approx(float(vectors[3] @ vectors[hits[1][0].position]), abs=1e-5)
    sims = store.similarities(["id-a.txt-1", "id-a.txt-4"], vectors[1])
    assert sims["id-a.txt-1"] == pytest.approx(1.0, abs=1e-5)
    assert sims["id-a.txt-4"] == pytest.approx(float(vectors[1] @ vectors[4]), abs=1e-5)
    assert store.query(vectors[0], k=50)[-1][0] in chunks  # k larger than the store is fine


def test_query_on_an_empty_store_is_empty(store: ChunkStore) -> None:
    assert store.query(_vectors(1)[0], k=3) == []
    assert store.similarities([], _vectors(1)[0]) == {}


def test_upsert_is_idempotent_and_delete_removes(store: ChunkStore) -> None:
    chunks = [_chunk(i) for i in range(1200)]
    store.upsert(chunks, _vectors(1200))
    store.upsert(chunks[:10], _vectors(10))
    assert store.count() == 1200
    assert len(store.id_sources()) == 1200  # paged reads see everything
    store.delete([c.chunk_id for c in chunks[:700]])
    assert store.count() == 500
    assert set(store.id_sources()) == {c.chunk_id for c in chunks[700:]}


def test_update_metadata_keeps_text_and_vector(store: ChunkStore) -> None:
    vectors = _vectors(2)
    store.upsert([_chunk(0), _chunk(1)], vectors)
    moved = dataclasses.replace(_chunk(1), position=7, author="Người khác")
    store.update_metadata([moved])
    stored = {c.chunk_id: c for c in store.all_chunks()}
    assert stored[moved.chunk_id] == moved
    assert store.similarities([moved.chunk_id], vectors[1])[moved.chunk_id] == pytest.approx(1.0)


def test_the_collection_records_the_embedder(store: ChunkStore) -> None:
    assert store.stored_embedder() is None  # nothing created yet
    store.upsert([_chunk(0)], _vectors(1))
    assert store.stored_embedder() == "fake:test"


def test_another_embedder_is_refused_with_a_clear_message(fake_settings: Settings) -> None:
    ChunkStore(fake_settings, "model-A").upsert([_chunk(0)], _vectors(1))
    other = ChunkStore(fake_settings, "model-B")
    with pytest.raises(EmbedderMismatch) as info:
        other.count()
    err = info.value
    assert err.code == "embedder_mismatch" and err.http_status == 409
    assert "model-A" in err.message_en and "model-B" in err.message_en
    assert "--rebuild" in err.message_en and "HOIDAP_EMBEDDER" in err.message_en
    assert "model-A" in err.message_vi and "bộ nhúng" in err.message_vi
    assert err.to_json()["error"]["code"] == "embedder_mismatch"
    # Refusing changed nothing: the original embedder still reads its data.
    assert ChunkStore(fake_settings, "model-A").count() == 1
    assert other.stored_embedder() == "model-A"


def test_drop_lets_a_new_embedder_start_over(fake_settings: Settings) -> None:
    ChunkStore(fake_settings, "model-A").upsert([_chunk(0)], _vectors(1))
    other = ChunkStore(fake_settings, "model-B")
    other.drop()
    assert other.count() == 0
    assert other.stored_embedder() == "model-B"


def test_pipeline_refuses_another_embedder_and_rebuild_switches(fake_settings: Settings) -> None:
    first = run_index([PAGES], fake_settings)
    assert first.embedder == "fake:hashing-256"
    other = dataclasses.replace(fake_settings, embedder="fake:128")
    with pytest.raises(EmbedderMismatch, match="fake:hashing-256"):
        run_index([PAGES], other)
    assert ChunkStore(fake_settings, first.embedder).count() == first.chunks  # untouched
    rebuilt = run_index([PAGES], other, rebuild=True)
    assert rebuilt.embedder == "fake:hashing-128"
    assert rebuilt.new == rebuilt.chunks == first.chunks
    with pytest.raises(EmbedderMismatch):
        run_index([PAGES], fake_settings)


def test_two_collections_in_one_data_dir_are_independent(fake_settings: Settings) -> None:
    ChunkStore(fake_settings, "model-A").upsert([_chunk(0)], _vectors(1))
    eval_settings = dataclasses.replace(fake_settings, collection="hoidap-eval")
    other = ChunkStore(eval_settings, "model-B")
    assert other.count() == 0
    other.upsert([_chunk(1), _chunk(2)], _vectors(2))
    assert (ChunkStore(fake_settings, "model-A").count(), other.count()) == (1, 2)


@pytest.mark.parametrize("name", ["x", "có dấu", "-bad-", "a" * 600])
def test_an_invalid_collection_name_is_a_config_error(fake_settings: Settings, name: str) -> None:
    store = ChunkStore(dataclasses.replace(fake_settings, collection=name), "fake:test")
    with pytest.raises(ConfigError, match="HOIDAP_COLLECTION"):
        store.count()


def test_an_unreachable_server_is_store_unavailable(fake_settings: Settings) -> None:
    store = ChunkStore(dataclasses.replace(fake_settings, chroma_url="http://127.0.0.1:9"), "x")
    with pytest.raises(StoreUnavailable) as info:
        store.count()
    err = info.value
    assert err.http_status == 503 and err.code == "store_unavailable"
    assert "http://127.0.0.1:9" in err.message_en and "HOIDAP_CHROMA_URL" in err.message_en
    assert "Chroma" in err.message_vi


def test_a_chroma_url_that_is_not_a_url_is_refused(fake_settings: Settings) -> None:
    store = ChunkStore(dataclasses.replace(fake_settings, chroma_url="localhost-8000"), "x")
    with pytest.raises(StoreUnavailable, match="is not a URL"):
        store.count()


def _damage(settings: Settings, how: str) -> None:
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()  # as a fresh process would open it
    db = settings.store_dir / "chroma.sqlite3"
    data = bytearray(db.read_bytes())
    if how == "random-bytes":
        data[:] = np.random.default_rng(0).integers(0, 256, len(data), dtype=np.uint8).tobytes()
    else:  # intact header, damaged pages
        noise = np.random.default_rng(1).integers(0, 256, len(data) - 4096, dtype=np.uint8)
        data[4096:] = noise.tobytes()
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["random-bytes", "damaged-pages"])
def test_a_damaged_embedded_store_is_a_clear_error_and_rebuild_recovers(
    fake_settings: Settings, how: str
) -> None:
    run_index([PAGES], fake_settings)
    _damage(fake_settings, how)
    with pytest.raises(StoreUnavailable) as info:
        ChunkStore(fake_settings, "fake").count()
    err = info.value
    assert err.code == "store_unavailable"
    assert "hoidap index --rebuild" in err.message_en and "hoidap index --rebuild" in err.message_vi
    assert "chroma run" not in err.message_en.lower()  # not a server problem
    assert "máy chủ" not in err.message_vi
    summary = run_index([PAGES], fake_settings, rebuild=True)
    assert summary.new > 0 and ChunkStore(fake_settings, summary.embedder).count() > 0
    kept = list(fake_settings.store_dir.parent.glob(f"{fake_settings.store_dir.name}.damaged-*"))
    assert len(kept) == 1 and (kept[0] / "chroma.sqlite3").is_file()  # nothing deleted


def test_data_files_are_owner_only(fake_settings: Settings) -> None:
    from assistant.web.api.keys import KeyStore
    from assistant.web.feedback import FeedbackStore
    from index.pipeline import lexical_path

    run_index([PAGES], fake_settings)
    keys = KeyStore.for_home(fake_settings.home)
    keys.create_admin_key(name="ops")
    FeedbackStore.for_settings(fake_settings).record("Câu hỏi?", "Trả lời", "[]", 1)
    assert fake_settings.home.stat().st_mode & 0o777 == 0o700
    files = [lexical_path(fake_settings)]
    files += list(fake_settings.home.glob("*.sqlite3*"))
    names = {f.name for f in files}
    assert {"keys.sqlite3-wal", "keys.sqlite3-shm", "feedback.sqlite3"} <= names, names
    for f in files:
        assert f.stat().st_mode & 0o777 == 0o600, f
