"""`run_index`: incremental updates, changed/removed files, --prune, --rebuild, bad input,
and recovery after the indexer is killed with SIGKILL mid-run."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from index.chunker import chunk_article
from index.clean import clean_article
from index.config import Settings
from index.embedders.fake import HashingEmbedder
from index.errors import HoidapError
from index.lexical import LexicalIndex, fingerprint
from index.pipeline import IndexSummary, index_lock, lexical_path, run_index
from index.store import ChunkStore

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
PAGES = Path(__file__).resolve().parent / "data" / "pages"


class CountingEmbedder(HashingEmbedder):
    """The hashing embedder, counting how many passages it was asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.embedded = 0

    def embed_passages(self, texts):
        self.embedded += len(texts)
        return super().embed_passages(texts)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A writable copy of the seeds plus the synthetic pages."""
    folder = tmp_path / "corpus"
    shutil.copytree(SEEDS, folder)
    for page in PAGES.iterdir():
        shutil.copy(page, folder / page.name)
    for f in folder.iterdir():
        f.chmod(0o644)
    return folder


def _store(settings: Settings) -> ChunkStore:
    return ChunkStore(settings, "fake:hashing-256")


def _expected_chunks(path: Path, source: str | None = None, settings: Settings | None = None):
    settings = settings or Settings.load(env={})
    raw = path.read_bytes()
    article, _ = clean_article(raw.decode("utf-8"), source or path.name, raw)
    return chunk_article(article, settings.chunk_tokens, settings.chunk_overlap)


def _assert_consistent(settings: Settings) -> set[str]:
    """Store and lexical index agree, and each source's positions are 0..n-1."""
    store = _store(settings)
    chunks = store.all_chunks()
    ids = {c.chunk_id for c in chunks}
    lex = LexicalIndex.load(lexical_path(settings))
    assert lex is not None and lex.fingerprint == fingerprint(ids)
    by_source: dict[str, list[int]] = {}
    for c in chunks:
        by_source.setdefault(c.source, []).append(c.position)
    for source, positions in by_source.items():
        assert sorted(positions) == list(range(len(positions))), source
    return ids


def test_first_run_indexes_everything_and_second_run_embeds_nothing(
    corpus: Path, fake_settings: Settings
) -> None:
    emb = CountingEmbedder()
    first = run_index([corpus], fake_settings, embedder=emb)
    assert first.files == 9 and first.errors == []
    assert first.new == first.chunks == emb.embedded > 40
    assert (first.unchanged, first.removed) == (0, 0)
    expected = {c.chunk_id for f in sorted(corpus.iterdir()) for c in _expected_chunks(f)}
    assert _assert_consistent(fake_settings) == expected

    emb2 = CountingEmbedder()
    second = run_index([corpus], fake_settings, embedder=emb2)
    assert emb2.embedded == 0
    assert (second.new, second.unchanged, second.removed, second.chunks) == (
        0,
        first.chunks,
        0,
        first.chunks,
    )
    assert set(second.to_json()) == {
        "files", "pages", "articles_new", "articles_changed", "articles_unchanged",
        "articles_removed", "chunks", "new", "unchanged", "removed", "errors", "seconds",
        "embedder", "store", "repaired",
    }  # fmt: skip
    assert second.repaired == 0
    assert (first.articles_new, second.articles_unchanged, second.articles_new) == (
        first.files,
        first.files,
        0,
    )


def test_a_changed_file_replaces_only_its_own_chunks(corpus: Path, fake_settings: Settings) -> None:
    first = run_index([corpus], fake_settings)
    before = {c.chunk_id: c for c in _store(fake_settings).all_chunks()}
    target = corpus / "000_9413930f2d315b59.txt"
    text = target.read_text(encoding="utf-8")
    # A new paragraph at the top shifts every later passage, an edit changes one.
    text = text.replace(
        "Chiều 30/11, tại trụ sở Chính phủ,",
        "Đoạn mới chèn vào đầu bài về hạ tầng số quốc gia.\n\nChiều 30/11, tại trụ sở Chính phủ,",
    ).replace("Ủy ban có 2 Phó Chủ tịch", "Ủy ban có hai Phó Chủ tịch")
    target.write_text(text, encoding="utf-8")

    emb = CountingEmbedder()
    second = run_index([corpus], fake_settings, embedder=emb)
    new_chunks = _expected_chunks(target)
    stored = _store(fake_settings).all_chunks()
    mine = [c for c in stored if c.source == target.name]
    assert mine == new_chunks  # text, positions, hash and all metadata are the new version's
    assert second.new == emb.embedded == len({c.chunk_id for c in new_chunks} - set(before))
    assert 0 < second.new < len(new_chunks)  # unchanged passages kept their vectors
    assert second.removed == len({c.chunk_id for c in before.values() if c.source == target.name}
                                 - {c.chunk_id for c in new_chunks})  # fmt: skip
    others = {c.chunk_id: c for c in stored if c.source != target.name}
    assert others == {k: v for k, v in before.items() if v.source != target.name}
    assert second.chunks == first.chunks - second.removed + second.new
    _assert_consistent(fake_settings)


def test_a_removed_file_stays_until_prune(corpus: Path, fake_settings: Settings) -> None:
    run_index([corpus], fake_settings)
    gone = corpus / "y-te-so.html"
    gone.unlink()
    kept = run_index([corpus], fake_settings)
    assert kept.removed == 0
    assert "y-te-so.html" in {c.source for c in _store(fake_settings).all_chunks()}
    pruned = run_index([corpus], fake_settings, prune=True)
    assert pruned.removed > 0 and pruned.new == 0
    sources = {c.source for c in _store(fake_settings).all_chunks()}
    assert "y-te-so.html" not in sources and len(sources) == 8
    _assert_consistent(fake_settings)  # the lexical index forgot the pruned file too


@pytest.mark.parametrize("flag", ["prune", "rebuild"])
def test_prune_or_rebuild_with_a_missing_folder_loses_nothing(
    corpus: Path, fake_settings: Settings, tmp_path: Path, flag: str
) -> None:
    first = run_index([corpus], fake_settings)
    ids = set(_store(fake_settings).id_sources())
    typo = tmp_path / "corpsu"
    summary = run_index([typo], fake_settings, **{flag: True})
    assert summary.removed == 0 and summary.files == 0
    assert any(str(typo) in e and "no such file or folder" in e for e in summary.errors)
    assert any(f"--{flag}" in e and "nothing was removed" in e for e in summary.errors)
    assert set(_store(fake_settings).id_sources()) == ids
    assert summary.chunks == first.chunks


def test_rebuild_starts_over(corpus: Path, fake_settings: Settings) -> None:
    first = run_index([corpus], fake_settings)
    (corpus / "thue-dien-tu.txt").unlink()
    emb = CountingEmbedder()
    rebuilt = run_index([corpus], fake_settings, rebuild=True, embedder=emb)
    assert rebuilt.new == rebuilt.chunks == emb.embedded < first.chunks
    assert rebuilt.removed == 0
    assert "thue-dien-tu.txt" not in {c.source for c in _store(fake_settings).all_chunks()}
    _assert_consistent(fake_settings)


def test_bad_files_next_to_good_ones(corpus: Path, fake_settings: Settings) -> None:
    (corpus / "rong.txt").write_bytes(b"")
    (corpus / "anh.html").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10)
    (corpus / "cp1258.md").write_bytes("Hà Nội".encode("cp1258", "replace"))
    (corpus / "chi-la-khung.txt").write_text(
        "Tiêu đề\nXem lịch phát sóng\nBạn có hài lòng với bài viết này?\n", encoding="utf-8"
    )
    summary = run_index([corpus], fake_settings)
    assert summary.files == 9
    errors = "\n".join(summary.errors)
    assert len(summary.errors) == 4
    for name, why in [
        ("rong.txt", "file is empty"),
        ("anh.html", "binary"),
        ("cp1258.md", "not valid UTF-8"),
        ("chi-la-khung.txt", "no article text left"),
    ]:
        line = next(e for e in summary.errors if name in e)
        assert why in line and str(corpus / name) in line
    assert "\n" not in "".join(summary.errors)
    assert errors
    sources = {c.source for c in _store(fake_settings).all_chunks()}
    assert len(sources) == 9 and not sources & {"rong.txt", "anh.html", "cp1258.md"}


def test_a_file_that_turns_bad_keeps_its_previous_chunks(
    corpus: Path, fake_settings: Settings
) -> None:
    run_index([corpus], fake_settings)
    before = set(_store(fake_settings).id_sources())
    (corpus / "giao-duc-so.md").write_bytes(b"\xff\xfe broken")
    summary = run_index([corpus], fake_settings, prune=True)
    assert summary.removed == 0 and summary.new == 0
    assert any("giao-duc-so.md" in e for e in summary.errors)
    assert set(_store(fake_settings).id_sources()) == before


def test_same_file_name_in_two_folders_indexes_both(
    tmp_path: Path, fake_settings: Settings
) -> None:
    root = tmp_path / "news"
    for year, page in [("2022", "thue-dien-tu.txt"), ("2023", "nong-nghiep-so.txt")]:
        (root / year).mkdir(parents=True)
        shutil.copy(PAGES / page, root / year / "tin.txt")
    summary = run_index([root], fake_settings)
    assert summary.files == 2 and summary.errors == []
    chunks = _store(fake_settings).all_chunks()
    assert {c.source for c in chunks} == {"2022/tin.txt", "2023/tin.txt"}
    assert {c.title for c in chunks if c.source == "2022/tin.txt"} == {
        "Quảng Ninh cấp chữ ký số miễn phí cho hộ kinh doanh"
    }


def test_two_roots_naming_the_same_source_report_the_clash(
    tmp_path: Path, fake_settings: Settings
) -> None:
    for folder, page in [("a", "thue-dien-tu.txt"), ("b", "nong-nghiep-so.txt")]:
        (tmp_path / folder).mkdir()
        shutil.copy(PAGES / page, tmp_path / folder / "tin.txt")
    summary = run_index([tmp_path / "a", tmp_path / "b"], fake_settings)
    assert summary.files == 1
    assert len(summary.errors) == 1
    assert str(tmp_path / "b" / "tin.txt") in summary.errors[0]
    assert "rename one" in summary.errors[0]


def test_mixed_nfc_nfd_file_indexes_like_its_nfc_twin(
    tmp_path: Path, fake_settings: Settings
) -> None:
    text = (PAGES / "nong-nghiep-so.txt").read_text(encoding="utf-8")
    paragraphs = text.split("\n\n")
    mixed = "\n\n".join(
        unicodedata.normalize("NFD", p) if i % 2 else p for i, p in enumerate(paragraphs)
    )
    assert mixed != text and unicodedata.normalize("NFC", mixed) == text
    (tmp_path / "nfc").mkdir()
    (tmp_path / "mixed").mkdir()
    (tmp_path / "nfc" / "bai.txt").write_text(text, encoding="utf-8")
    (tmp_path / "mixed" / "bai.txt").write_text(mixed, encoding="utf-8")
    nfc_settings = dataclasses.replace(fake_settings, home=tmp_path / "home-nfc")
    run_index([tmp_path / "nfc"], nfc_settings)
    summary = run_index([tmp_path / "mixed"], fake_settings)
    assert summary.errors == []
    mixed_chunks = _store(fake_settings).all_chunks()
    nfc_chunks = _store(nfc_settings).all_chunks()
    assert [c.chunk_id for c in mixed_chunks] == [c.chunk_id for c in nfc_chunks]
    assert all(c.text == unicodedata.normalize("NFC", c.text) for c in mixed_chunks)
    assert mixed_chunks[0].article_hash != nfc_chunks[0].article_hash  # the bytes differ
    lex = LexicalIndex.load(lexical_path(fake_settings))
    assert lex is not None and lex.search("thủy lợi thông minh", k=1)


def test_a_second_writer_is_refused(corpus: Path, fake_settings: Settings) -> None:
    with index_lock(fake_settings), pytest.raises(HoidapError) as info:
        run_index([corpus], fake_settings)
    assert info.value.code == "index_busy"
    assert "hoidap index" in info.value.message_vi
    assert run_index([corpus], fake_settings).files == 9  # the lock is released afterwards


def test_max_file_size_is_configurable(corpus: Path, fake_settings: Settings) -> None:
    small = dataclasses.replace(fake_settings, max_file_mb=0.0105)  # 11,010 bytes
    summary = run_index([corpus], small)
    big = [e for e in summary.errors if "over the" in e]
    assert {Path(e.split(":")[0]).name for e in big} == {
        "000_9413930f2d315b59.txt",  # 20,046 bytes
        "001_c7e9e54a34adfa75.txt",  # 11,063 bytes; 004 has 10,482 and passes
    }
    assert summary.files == 7


# -- crash recovery ----------------------------------------------------------------------
# The real CLI entry point, with an embedder that reports each batch on stdout before it
# returns and then pauses, so the test can SIGKILL the process mid-run at a known point.
SLOW_INDEXER = textwrap.dedent(
    """
    import sys, time
    from index.embedders.base import register_embedder
    from index.embedders.fake import HashingEmbedder

    class Slow(HashingEmbedder):
        batch_size = 4
        store_batch = 4  # every batch reaches the store: a kill leaves a partial index

        def embed_passages(self, texts):
            out = super().embed_passages(texts)
            print("batch", flush=True)
            time.sleep(0.15)
            return out

    register_embedder("slow")(lambda arg, settings: Slow())
    from assistant.cli import main
    sys.exit(main(["index", *sys.argv[1:]]))
    """
)


def _env(home: Path, embedder: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOIDAP_")}
    env.update(HOIDAP_HOME=str(home), HOIDAP_EMBEDDER=embedder)
    return env


def _kill_after_batches(home: Path, folder: Path, batches: int) -> int:
    """Run the slow indexer and SIGKILL it after ``batches`` batches; return lines seen."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_INDEXER, str(folder)],
        cwd=ROOT,
        env=_env(home, "slow"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    seen = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        seen += line.strip() == "batch"
        if seen >= batches:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the indexer finished before it was killed"
    return seen


def _repair(home: Path, folder: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "index", str(folder), "--json"],
        cwd=ROOT,
        env=_env(home, "fake"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _reference_ids(folder: Path, tmp_path: Path) -> set[str]:
    settings = Settings.load(env={"HOIDAP_HOME": str(tmp_path / "ref"), "HOIDAP_EMBEDDER": "fake"})
    run_index([folder], settings)
    return set(_store(settings).id_sources())


def _settings(home: Path) -> Settings:
    return Settings.load(env={"HOIDAP_HOME": str(home), "HOIDAP_EMBEDDER": "fake"})


@pytest.mark.slow
def test_kill_during_first_index_then_next_run_completes_it(corpus: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    _kill_after_batches(home, corpus, batches=5)
    # The interrupted store opens and holds a clean part of the work: no stray ids.
    settings = _settings(home)
    expected = _reference_ids(corpus, tmp_path)
    partial = set(_store(settings).id_sources())
    assert 0 < len(partial) < len(expected) and partial <= expected
    summary = _repair(home, corpus)
    assert summary["new"] == len(expected) - len(partial)
    assert summary["unchanged"] == len(partial) and summary["removed"] == 0
    assert _assert_consistent(settings) == expected
    assert _vectors_not_found(home) == []


# A Chroma PersistentClient keeps its vector index in memory: a process that opened the
# store before another process wrote to it does not see the new vectors in queries. So
# the nearest-neighbour check runs in a fresh process, as a restarted server would.
CHECK_VECTORS = textwrap.dedent(
    """
    import json, sys
    from index.config import Settings
    from index.embedders.fake import HashingEmbedder
    from index.store import ChunkStore

    store = ChunkStore(Settings.load(env={"HOIDAP_HOME": sys.argv[1]}), "fake:hashing-256")
    emb = HashingEmbedder()
    missing = []
    for chunk in store.all_chunks():
        hit, score = store.query(emb.embed_passages([chunk.embedding_text()])[0], k=1)[0]
        if score < 0.9999:
            missing.append(chunk.chunk_id)
    print(json.dumps(missing))
    """
)


def _vectors_not_found(home: Path) -> list[str]:
    """Chunks whose own vector does not find them first: a broken vector index."""
    result = subprocess.run(
        [sys.executable, "-c", CHECK_VECTORS, str(home)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_kill_while_replacing_a_changed_file(corpus: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = _repair(home, corpus)
    target = corpus / "001_c7e9e54a34adfa75.txt"
    target.write_text(
        target.read_text(encoding="utf-8").replace("Phó Thủ tướng", "Phó Thủ tướng Chính phủ"),
        encoding="utf-8",
    )
    _kill_after_batches(home, corpus, batches=2)
    settings = _settings(home)
    expected = _reference_ids(corpus, tmp_path)
    interrupted = _store(settings).id_sources()
    # New passages were written before old ones are deleted: nothing is missing meanwhile.
    assert len(interrupted) > first["chunks"]
    old_version = {cid for cid, src in interrupted.items() if cid not in expected}
    assert old_version and {interrupted[cid] for cid in old_version} == {target.name}
    summary = _repair(home, corpus)
    assert summary["removed"] == len(old_version)
    assert _assert_consistent(settings) == expected
    assert _vectors_not_found(home) == []


@pytest.mark.slow
def test_kill_at_arbitrary_moments_of_a_real_cli_run(tmp_path: Path) -> None:
    """SIGKILL `hoidap index` (fake embedder, ~100 files) at several points; each next run
    must succeed and the final index must equal an uninterrupted one."""
    folder = tmp_path / "many"
    folder.mkdir()
    pages = sorted(PAGES.iterdir()) + sorted(SEEDS.iterdir())
    for i in range(100):
        page = pages[i % len(pages)]
        text = page.read_text(encoding="utf-8").replace("\n\n", f"\n\nBản tin số {i}.\n\n", 3)
        (folder / f"{i:03d}{page.suffix}").write_text(text, encoding="utf-8")
    expected = _reference_ids(folder, tmp_path)
    home = tmp_path / "home"
    hoidap = ROOT / ".venv" / "bin" / "hoidap"
    for delay in (1.5, 3.0, 4.5):
        proc = subprocess.Popen(
            [str(hoidap), "index", str(folder)],
            env=_env(home, "fake"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert set(_store(_settings(home)).id_sources()) <= expected
    summary = _repair(home, folder)
    assert summary["chunks"] == len(expected) and summary["removed"] == 0
    assert _assert_consistent(_settings(home)) == expected
    assert _vectors_not_found(home) == []


def test_summary_defaults() -> None:
    assert IndexSummary().to_json()["errors"] == []


# -- the manifest: unchanged re-runs decide from file hashes ------------------------------
def _forbid(monkeypatch, target, name: str, why: str) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError(why)

    monkeypatch.setattr(target, name, refuse)


def test_an_unchanged_rerun_reads_neither_the_store_nor_the_articles_again(
    corpus: Path, fake_settings: Settings, monkeypatch
) -> None:
    import index.pipeline as pipeline
    import index.prepare as prepare

    first = run_index([corpus], fake_settings)
    _forbid(monkeypatch, ChunkStore, "id_metadata", "metadata read back from the store")
    _forbid(monkeypatch, prepare, "chunk_article", "an unchanged file was chunked again")
    _forbid(monkeypatch, pipeline, "load_lexical", "the lexical index was reloaded")
    second = run_index([corpus], fake_settings)
    assert (second.new, second.removed, second.unchanged, second.chunks) == (
        0,
        0,
        first.chunks,
        first.chunks,
    )


def test_with_a_manifest_an_edit_rechunks_only_its_file(
    corpus: Path, fake_settings: Settings, monkeypatch
) -> None:
    import index.prepare as prepare

    run_index([corpus], fake_settings)
    target = corpus / "nong-nghiep-so.txt"
    text = target.read_text(encoding="utf-8")
    target.write_text(text.replace("hơn 1.200 hộ nông dân", "hơn 1.300 hộ nông dân"))
    chunked = []
    real = prepare.chunk_article
    monkeypatch.setattr(
        prepare, "chunk_article", lambda a, *r: chunked.append(a.source) or real(a, *r)
    )
    _forbid(monkeypatch, ChunkStore, "id_metadata", "metadata read back from the store")
    second = run_index([corpus], fake_settings)
    assert chunked == ["nong-nghiep-so.txt"] and second.new >= 1
    monkeypatch.undo()
    ids = _assert_consistent(fake_settings)
    expected = {c.chunk_id for f in sorted(corpus.iterdir()) for c in _expected_chunks(f)}
    assert ids == expected


@pytest.mark.parametrize("why", ["another-writer", "damaged", "other-chunking"])
def test_a_manifest_that_may_be_wrong_is_not_trusted(
    corpus: Path, fake_settings: Settings, why: str
) -> None:
    """Any doubt sends the run back to reading the store; the result is the same."""
    from index.pipeline import manifest_path

    run_index([corpus], fake_settings)
    settings = fake_settings
    extra = corpus / "extra.txt"
    if why == "another-writer":  # e.g. a run against the same Chroma server from elsewhere
        store = _store(fake_settings)
        chunk = _expected_chunks(PAGES / "thue-dien-tu.txt", source="elsewhere.txt")[0]
        store.upsert([chunk], np.ones((1, 256), dtype=np.float32) / 16)
        store.bump_generation()
    elif why == "damaged":
        manifest_path(fake_settings).write_text('{"version": 1, "files": 3}')
    else:
        settings = dataclasses.replace(fake_settings, chunk_tokens=120)
    extra.write_text("Bài thêm về ví điện tử.\n\nNgười dân dùng ví điện tử để nộp học phí.\n")
    run_index([corpus], settings)
    stored = {c.chunk_id for c in _store(settings).all_chunks()}
    expected = {
        c.chunk_id for f in sorted(corpus.iterdir()) for c in _expected_chunks(f, settings=settings)
    }
    if why == "another-writer":
        expected.add(chunk.chunk_id)  # kept: its source is not in this run (no --prune)
    assert stored == expected
    _assert_consistent(settings)
