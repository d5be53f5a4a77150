"""Reading, cleaning and chunking in a worker process gives what the main process would."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import index.pipeline as pipeline
import index.prepare as prepare
from index.config import Settings
from index.loader import MIB
from index.manifest import file_digest
from index.pipeline import run_index
from index.prepare import PrepareOptions, prepare_files
from index.store import ChunkStore

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"


def _children() -> set[int]:
    """This process' child processes, zombies included."""
    me, found = os.getpid(), set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines())
        except (OSError, ValueError):
            continue
        if int(fields.get("PPid", "0")) == me:
            found.add(int(status.parent.name))
    return found


@pytest.fixture
def mixed(tmp_path: Path) -> list[tuple[Path, str, str | None]]:
    """Seed articles (one of them unchanged since a manifest), an empty and a binary file."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    files = []
    for path in sorted(SEEDS.iterdir()):
        shutil.copy(path, folder / path.name)
        files.append((folder / path.name, path.name, None))
    (folder / "empty.txt").write_text("")
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02" * 10)
    files += [
        (folder / "empty.txt", "empty.txt", None),
        (folder / "binary.txt", "binary.txt", None),
    ]
    first = files[0][0]
    files[0] = (first, first.name, file_digest(first.read_bytes()))
    return files


def test_the_worker_process_returns_what_the_main_process_computes(mixed, monkeypatch) -> None:
    options = PrepareOptions(20 * MIB, 220, 40)
    here = list(prepare_files(mixed, options, workers=0))
    monkeypatch.setattr(prepare, "WORKER_MIN_FILES", 0)
    monkeypatch.setattr(prepare, "TASK_FILES", 2)  # several tasks, their order kept
    there = list(prepare_files(mixed, options, workers=1))
    assert there == here
    assert [p.source for p in there] == [source for _, source, _ in mixed]
    assert here[0].unchanged and not here[0].chunks
    assert all(p.chunks for p in here[1:-2])
    assert [bool(p.error) for p in here[-2:]] == [True, True]


def test_an_index_run_through_the_worker_stores_the_same_chunks(tmp_path, monkeypatch) -> None:
    def settings(name: str) -> Settings:
        return Settings.load(env={"HOIDAP_HOME": str(tmp_path / name), "HOIDAP_EMBEDDER": "fake"})

    alone = run_index([SEEDS], settings("alone"))
    monkeypatch.setattr(prepare, "WORKER_MIN_FILES", 0)
    monkeypatch.setattr(prepare, "worker_count", lambda: 1)
    before, after_reading = _children(), []
    real_load_lexical = pipeline.load_lexical

    def load_lexical(*args, **kwargs):  # runs once every file is read and chunked
        after_reading.append(_children())
        return real_load_lexical(*args, **kwargs)

    monkeypatch.setattr(pipeline, "load_lexical", load_lexical)
    worker = run_index([SEEDS], settings("worker"))
    # The worker was reaped once the last file was read, not left a zombie until the end.
    assert after_reading == [before] and _children() == before
    assert (worker.files, worker.chunks, worker.new) == (alone.files, alone.chunks, alone.new)

    def stored(name: str) -> dict:
        return {
            c.chunk_id: (c.text, c.position)
            for c in ChunkStore(settings(name), "fake:hashing-256").all_chunks()
        }

    assert stored("worker") == stored("alone")
    again = run_index([SEEDS], settings("worker"))
    assert (again.new, again.unchanged) == (0, alone.chunks)


def test_a_worker_that_fails_is_reported_with_its_reason(mixed, monkeypatch) -> None:
    from index.errors import HoidapError

    monkeypatch.setattr(prepare, "WORKER_MIN_FILES", 0)
    broken = PrepareOptions(20 * MIB, 5, 0)  # the chunker refuses a 5-token budget
    with pytest.raises(HoidapError, match="chunk budget must be at least 20") as caught:
        list(prepare_files(mixed, broken, workers=1))
    assert caught.value.code == "index_worker_failed"
    assert "chạy lại" in caught.value.message_vi
