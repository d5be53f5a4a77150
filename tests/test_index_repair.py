"""`hoidap index` notices a vector index that no longer matches its records (HNSW files cut
short or deleted) and rebuilds it from the stored texts, saying so; a sound one is left
alone. Real embedded Chroma, the registered `fake` embedder, the real CLI in its own
process (as in production: the damage is read from disk, not from a process' cache)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from index.config import Settings
from index.embedders import get_embedder
from index.manifest import Manifest
from index.pipeline import manifest_path
from index.repair import vector_index_answers
from index.store import ChunkStore

pytestmark = pytest.mark.slow

REPAIRED = "Chỉ mục vectơ bị hỏng nên đã được dựng lại từ văn bản đã lưu"


def _hoidap(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOIDAP_HOME": str(home), "HOIDAP_EMBEDDER": "fake"}
    code = f"from assistant.cli import main; raise SystemExit(main({list(args)!r}))"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def indexed(tmp_path_factory) -> tuple[Path, Path]:
    """1,200 short articles indexed once: enough for Chroma to move the vectors from its
    log into the HNSW files (and purge them from the log)."""
    root = tmp_path_factory.mktemp("repair")
    docs = root / "docs"
    docs.mkdir()
    for i in range(1200):
        (docs / f"bai-{i:04d}.txt").write_text(
            f"Tin số {i}\n\nTỉnh thứ {i} đã triển khai {i * 7} dịch vụ công trực tuyến năm "
            f"2023 với {i * 13} hồ sơ được xử lý. Đây là bài số {i} về chuyển đổi số.",
            encoding="utf-8",
        )
    home = root / "home"
    done = _hoidap(home, "index", str(docs))
    assert done.returncode == 0, done.stderr
    return docs, home


def _copy(indexed: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Settings]:
    docs, home = indexed
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    return docs, Settings.load(env={"HOIDAP_HOME": str(copy), "HOIDAP_EMBEDDER": "fake"})


def _vector_files(settings: Settings) -> list[Path]:
    return sorted(settings.store_dir.glob("*/*.bin"))


def _answers_with_same_ids(settings: Settings, expected_ids: set[str]) -> None:
    """Every record's vector reads back, and a query finds a chunk by its own text."""
    embedder = get_embedder("fake", settings)
    store = ChunkStore(settings, embedder.identity)
    assert vector_index_answers(store)
    assert set(store.id_sources()) == expected_ids
    target = store.get_chunks(sorted(expected_ids)[:1])[0]
    hits = store.query(embedder.embed_query(target.text), k=5)
    assert hits and hits[0][0].chunk_id == target.chunk_id
    assert {chunk.chunk_id for chunk, _ in hits} <= expected_ids


def _ids(settings: Settings) -> set[str]:
    manifest = Manifest.load(manifest_path(settings))
    assert manifest is not None, f"no index manifest under {settings.home}"
    return set(manifest.chunks)


def test_truncated_vector_files_are_rebuilt_from_stored_text(indexed, tmp_path) -> None:
    docs, settings = _copy(indexed, tmp_path)
    ids = _ids(settings)
    assert len(ids) == 1200
    for path in _vector_files(settings):
        os.truncate(path, 100)
    done = _hoidap(settings.home, "index", str(docs))
    assert done.returncode == 0, done.stderr
    assert REPAIRED in done.stdout and "(1200 đoạn" in done.stdout
    assert "nhúng mới 0" in done.stdout  # no article was read as new: the sources were not re-read
    _answers_with_same_ids(settings, ids)
    again = _hoidap(settings.home, "index", str(docs))  # the manifest still vouches for the store
    assert again.returncode == 0 and REPAIRED not in again.stdout
    assert "không đổi 1200" in again.stdout


def test_deleted_vector_files_are_rebuilt_and_kept_aside(indexed, tmp_path) -> None:
    docs, settings = _copy(indexed, tmp_path)
    ids = _ids(settings)
    for path in _vector_files(settings):
        path.unlink()
    done = _hoidap(settings.home, "index", "--json", str(docs))
    assert done.returncode == 0, done.stderr
    assert '"repaired": 1200' in done.stdout
    _answers_with_same_ids(settings, ids)
    aside = list(settings.home.glob("chroma.damaged-vectors-*"))
    assert len(aside) == 1 and any(aside[0].iterdir())  # moved, never deleted


def test_an_intact_index_is_left_alone(indexed, tmp_path) -> None:
    docs, settings = _copy(indexed, tmp_path)
    store = ChunkStore(settings, get_embedder("fake", settings).identity)
    before = store.generation()
    store.reopen()
    done = _hoidap(settings.home, "index", str(docs))
    assert done.returncode == 0, done.stderr
    assert REPAIRED not in done.stdout
    assert store.generation() == before  # nothing was rewritten
    assert not list(settings.home.glob("chroma.damaged-vectors-*"))


def test_unreadable_records_ask_for_a_rebuild(indexed, tmp_path) -> None:
    """Vectors and records both lost: the user is told to rebuild from the sources."""
    docs, settings = _copy(indexed, tmp_path)
    for path in _vector_files(settings):
        path.unlink()
    with sqlite3.connect(settings.store_dir / "chroma.sqlite3") as db:
        db.execute("DROP TABLE embedding_metadata")
    done = _hoidap(settings.home, "index", str(docs))
    assert done.returncode != 0
    assert "hoidap index --rebuild" in done.stderr and "Traceback" not in done.stderr


def test_a_repair_killed_before_its_rename_is_finished(indexed, tmp_path) -> None:
    """Killed after the damaged collection was deleted, before the complete replacement
    took its name: the next run gives it the name, embedding nothing."""
    docs, settings = _copy(indexed, tmp_path)
    ids = _ids(settings)
    store = str(settings.store_dir)
    rename = (
        f"import chromadb; c = chromadb.PersistentClient(path={store!r}); "
        "c.get_collection('hoidap').modify(name='hoidap-repair')"
    )
    subprocess.run([sys.executable, "-c", rename], check=True, timeout=120)
    done = _hoidap(settings.home, "index", str(docs))
    assert done.returncode == 0, done.stderr
    assert "nhúng mới 0" in done.stdout and REPAIRED not in done.stdout
    _answers_with_same_ids(settings, ids)
