"""BM25 over syllables + bigrams, accented and diacritic-folded fields, rebuilt from the store."""

from __future__ import annotations

import gzip
import json
import math
import os
import random
import subprocess
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from index import lexical
from index.config import Settings
from index.lexical import FORMAT_VERSION, BM25Field, LexicalIndex, fingerprint
from index.pipeline import lexical_path, load_lexical, run_index
from index.store import ChunkStore
from index.types import Chunk

PAGES = Path(__file__).resolve().parent / "data" / "pages"

DOCS = {
    "typo": "Thúc đẩy chuyển đối số gắn với trách nhiệm của người đứng đầu.",
    "hoa-don": "Bộ Tài chính thúc đẩy việc sử dụng hoá đơn điện tử.",
    "uy-ban": "Uỷ ban Quốc gia về chuyển đổi số họp phiên thứ nhất.",
    "qd": "Chương trình theo Quyết định số 749/QĐ-TTg ngày 3-6-2020 của Thủ tướng.",
    "order": "Số đổi chuyển không phải là một cụm từ có nghĩa.",
    "nong": "Nông dân bán rau qua sàn thương mại điện tử.",
    "nfd": unicodedata.normalize("NFD", "Hồ sơ sức khỏe điện tử cho người dân."),
}


@pytest.fixture(scope="module")
def lex() -> LexicalIndex:
    return LexicalIndex(list(DOCS), list(DOCS.values()))


def _top(lex: LexicalIndex, query: str, field: str = "accented") -> str:
    hits = lex.search(query, k=3, field=field)
    assert hits, query
    return hits[0][0]


def test_bm25_matches_the_okapi_formula() -> None:
    docs = [["a", "b"], ["a", "a", "c"], ["c"]]
    k1, b = 1.2, 0.9
    bm = BM25Field(docs, k1=k1, b=b)
    n, avgdl = 3, 2.0
    idf_a = math.log(1 + (n - 2 + 0.5) / (2 + 0.5))
    expected = idf_a * 2 * (k1 + 1) / (2 + k1 * (1 - b + b * 3 / avgdl))
    assert bm.scores(["a"])[1] == pytest.approx(expected)
    assert set(bm.scores(["a"])) == {0, 1}
    assert bm.scores(["zzz"]) == {}
    # The shipped defaults are the ones measured in evals/README.md.
    assert (BM25Field(docs).k1, BM25Field(docs).b) == (1.2, 0.9)


def _reference_bm25(docs, query, k1=1.2, b=0.9) -> dict[int, float]:
    """Okapi BM25 written out term by term, as the index computed it before."""
    n, avgdl = len(docs), sum(map(len, docs)) / len(docs)
    out: dict[int, float] = {}
    for term, qtf in Counter(query).items():
        df = sum(term in d for d in docs)
        if not df:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        for i, d in enumerate(docs):
            tf = d.count(term)
            if tf:
                norm = k1 * (1 - b + b * len(d) / avgdl)
                out[i] = out.get(i, 0.0) + qtf * idf * tf * (k1 + 1) / (tf + norm)
    return out


def test_sparse_bm25_equals_the_term_by_term_formula_and_ranks_ties_by_order() -> None:
    rng = random.Random(7)
    words = [f"w{i}" for i in range(40)]
    docs = [[rng.choice(words) for _ in range(rng.randint(1, 30))] for _ in range(300)]
    field = BM25Field(docs)
    for _ in range(50):
        query = [rng.choice(words) for _ in range(rng.randint(1, 6))] + ["unseen"]
        expected = _reference_bm25(docs, query)
        got = field.scores(query)
        assert set(got) == set(expected)
        for d, v in expected.items():
            assert got[d] == pytest.approx(v, rel=1e-5)
        top = field.top(query, 10)
        ranked = sorted(expected.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        assert [d for d, _ in top] == [d for d, _ in ranked] or all(
            a == pytest.approx(b, rel=1e-5) for (_, a), (_, b) in zip(top, ranked, strict=True)
        )
    twins = BM25Field([["x", "y"], ["x", "y"], ["z"]])
    assert [d for d, _ in twins.top(["x"], 1)] == [0]  # equal scores: the earlier chunk


def test_weights_computed_in_blocks_equal_one_pass(monkeypatch) -> None:
    rng = random.Random(11)
    words = [f"w{i}" for i in range(60)]
    docs = [[rng.choice(words) for _ in range(rng.randint(1, 40))] for _ in range(200)]
    whole = BM25Field(docs).matrix
    monkeypatch.setattr(lexical, "WEIGHT_BLOCK", 7)  # many blocks, some cutting no row
    blocks = BM25Field(docs).matrix
    assert (whole != blocks).nnz == 0 and blocks.nnz == whole.nnz


@pytest.mark.parametrize("block", [1 << 20, 7])
def test_counts_lengths_and_totals_match_a_dense_count(monkeypatch, block: int) -> None:
    """The counts are scattered into term rows block by block and summed in blocks; the
    result must be the plain term x document count table (with empty documents and terms
    that only a later block uses)."""
    monkeypatch.setattr(lexical, "WEIGHT_BLOCK", block)
    rng = random.Random(5)
    words = [f"w{i}" for i in range(50)]
    docs = [
        [rng.choice(words[: 10 + i // 4]) for _ in range(rng.randint(0, 30))] for i in range(150)
    ]
    counts = lexical._Counts({}, batch=13)
    for terms in docs:
        counts.add(terms)
    vocab = counts.vocab
    tf = counts.matrix()
    dense = np.zeros((len(vocab), len(docs)), dtype=np.int64)
    for d, terms in enumerate(docs):
        for term, n in Counter(terms).items():
            dense[vocab[term], d] = n
    assert tf.has_canonical_format and (tf.toarray() == dense).all()
    field = BM25Field.from_counts(tf, vocab)
    assert (field.totals == dense.sum(axis=1)).all()
    assert field.avgdl == pytest.approx(dense.sum() / len(docs))
    order = np.array(rng.sample(range(len(docs)), len(docs)))
    again = lexical._Counts({}, batch=13)
    for terms in docs:
        again.add(terms)
    permuted = again.matrix(order)
    assert permuted.has_canonical_format and (permuted.toarray() == dense[:, order]).all()


def test_scraped_typo_is_found_by_the_correct_phrase(lex: LexicalIndex) -> None:
    assert _top(lex, "chuyển đổi số người đứng đầu") == "typo"
    hits = dict(lex.search("chuyển đổi số", k=10))
    assert "typo" in hits and "uy-ban" in hits


def test_tone_mark_style_does_not_matter(lex: LexicalIndex) -> None:
    assert _top(lex, "hóa đơn điện tử") == "hoa-don"
    assert _top(lex, "ủy ban quốc gia") == "uy-ban"
    assert _top(lex, "HOÁ ĐƠN") == "hoa-don"


def test_queries_without_diacritics_match_on_the_folded_field(lex: LexicalIndex) -> None:
    assert _top(lex, "chuyen doi so nguoi dung dau", field="folded") == "typo"
    assert _top(lex, "hoa don dien tu", field="folded") == "hoa-don"
    assert lex.search("hoa don dien tu", k=3, field="accented") == []  # why the field exists


def test_nfd_text_and_nfd_queries_match(lex: LexicalIndex) -> None:
    assert _top(lex, "hồ sơ sức khỏe") == "nfd"
    assert _top(lex, unicodedata.normalize("NFD", "hồ sơ sức khỏe")) == "nfd"


def test_bigrams_reward_the_phrase_in_order(lex: LexicalIndex) -> None:
    scores = dict(lex.search("chuyển đổi số", k=10))
    assert scores["uy-ban"] > scores["order"] > 0


def test_document_numbers_are_whole_terms(lex: LexicalIndex) -> None:
    assert _top(lex, "749/QĐ-TTg") == "qd"
    assert _top(lex, "quyet dinh 749/qd-ttg", field="folded") == "qd"


def test_unknown_field_is_refused(lex: LexicalIndex) -> None:
    with pytest.raises(ValueError, match="accented"):
        lex.search("x", field="stemmed")


def test_idf_and_phrase_count(lex: LexicalIndex) -> None:
    assert lex.idf("nông") > lex.idf("số")
    assert lex.idf("không-có-từ-này") >= lex.idf("nông")
    assert lex.phrase_count("chuyển đổi số") == 2  # the typo counts as the phrase
    assert lex.phrase_count("điện tử") == 3
    assert lex.phrase_count("") == 0


def test_restore_diacritics_from_the_corpus(lex: LexicalIndex) -> None:
    assert lex.restore_diacritics("hoa don dien tu") == "hóa đơn điện tử"
    assert lex.restore_diacritics("xyz dien tu") == "xyz điện tử"


def test_save_and_load_round_trip_atomically(lex: LexicalIndex, tmp_path: Path) -> None:
    path = tmp_path / "lex" / "bm25.npz"
    lex.save(path)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left
    loaded = LexicalIndex.load(path)
    assert isinstance(loaded, LexicalIndex) and len(loaded) == len(lex)
    assert loaded.fingerprint == lex.fingerprint == fingerprint(DOCS)
    assert loaded.search("hóa đơn điện tử") == lex.search("hóa đơn điện tử")


def test_save_removes_temp_files_of_killed_writers_only(lex: LexicalIndex, tmp_path: Path) -> None:
    finished = subprocess.Popen(["true"])
    finished.wait()  # its pid is free now, like a writer killed before its rename
    running = subprocess.Popen(["sleep", "30"])
    try:
        path = tmp_path / "bm25.npz"
        orphan = tmp_path / f".bm25.npz.{finished.pid}.tmp"
        in_progress = tmp_path / f".bm25.npz.{running.pid}.tmp"
        orphan.write_bytes(b"half written")
        in_progress.write_bytes(b"being written")
        lex.save(path)
        assert not orphan.exists()
        assert in_progress.exists()  # another live writer's file is left alone
        assert LexicalIndex.load(path) is not None
    finally:
        running.kill()
        running.wait()


def _rewrite(path: Path, **changes) -> None:
    """Save the arrays of ``path`` again with some replaced (None: removed)."""
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    for key, value in changes.items():
        if value is None:
            arrays.pop(key.replace("__", "."))
        else:
            arrays[key.replace("__", ".")] = value
    with path.open("wb") as fh:
        np.savez(fh, **arrays)


# Readable .npz files that are not an index of this version, or do not add up.
WRONG_SHAPES = {
    "old-format": {"format": np.array([FORMAT_VERSION - 1])},
    "no-ids": {"ids": None},
    "ids-and-texts-differ": {
        "ids_at": np.array([1], dtype=np.int64),
        "ids": np.array([97], dtype=np.uint8),
    },
    "offsets-past-the-end": {"texts_at": np.array([10**9], dtype=np.int64)},
    "pickled-object": {"texts": np.array([object()], dtype=object)},
    "term-index-out-of-range": {"accented__indices": None},
    "counts-not-positive": {"folded__data": None},
    "fingerprint-of-other-ids": {"fingerprint": np.frombuffer(b"0" * 64, dtype=np.uint8).copy()},
}


@pytest.mark.parametrize(
    "damage", ["missing", "garbage", "truncated", "gzip-json-v2", *WRONG_SHAPES]
)
def test_a_damaged_file_loads_as_none(lex: LexicalIndex, tmp_path: Path, damage: str) -> None:
    path = tmp_path / "bm25.npz"
    lex.save(path)
    if damage == "missing":
        path.unlink()
    elif damage == "garbage":
        path.write_bytes(b"not an archive at all")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:400])
    elif damage == "gzip-json-v2":  # the earlier format, texts only
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            json.dump({"format": 2, "chunk_ids": list(DOCS), "texts": list(DOCS.values())}, fh)
    elif damage == "term-index-out-of-range":
        with np.load(path) as npz:
            indices = npz["accented.indices"].copy()
        indices[0] = 10**6
        _rewrite(path, accented__indices=indices)
    elif damage == "counts-not-positive":
        with np.load(path) as npz:
            data = npz["folded.data"].copy()
        data[0] = 0
        _rewrite(path, folded__data=data)
    else:
        _rewrite(path, **WRONG_SHAPES[damage])
    assert LexicalIndex.load(path) is None


def test_added_and_removed_chunks_update_the_index_as_a_rebuild_would(
    lex: LexicalIndex, tmp_path: Path
) -> None:
    """Only the new chunks are tokenized; scores, idf, restoration and phrases then equal
    those of an index built from scratch over the same chunks (saved and loaded too)."""
    extra = [
        Chunk(
            "hai-san", "x.txt", "Thủy sản", None, None, "Ngư dân bán hải sản qua mạng.", 0, "h", 9
        ),
        Chunk("uy-ban-2", "x.txt", "", None, None, "Ủy ban họp phiên thứ hai.", 1, "h", 7),
    ]
    updated = lex.updated({"nong", "order"}, extra)
    kept = {k: v for k, v in DOCS.items() if k not in ("nong", "order")}
    rebuilt = LexicalIndex(
        [*kept, "hai-san", "uy-ban-2"],
        [*kept.values(), "Thủy sản\nNgư dân bán hải sản qua mạng.", "\nỦy ban họp phiên thứ hai."],
    )
    path = tmp_path / "bm25.npz"
    updated.save(path)
    loaded = LexicalIndex.load(path)
    for candidate in (updated, loaded):
        assert candidate.fingerprint == rebuilt.fingerprint
        for query in ("hải sản", "ủy ban phiên họp", "nong dan", "chuyển đổi số", "hoa don"):
            for field in ("accented", "folded"):
                got = candidate.search(query, field=field)
                want = rebuilt.search(query, field=field)
                assert [c for c, _ in got] == [c for c, _ in want], (query, field)
                assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-5)
        assert candidate.idf("nông") == pytest.approx(rebuilt.idf("nông"))
        assert candidate.phrase_count("hải sản") == 1 and candidate.phrase_count("nông dân") == 0
        assert candidate.restore_diacritics("hai san") == "hải sản"


def _seed_chunks() -> list[Chunk]:
    from index.chunker import chunk_article
    from index.clean import clean_article

    seeds = Path(__file__).resolve().parents[1] / "seeds"
    chunks = []
    for path in sorted(seeds.iterdir()):
        article, _ = clean_article(path.read_text(encoding="utf-8"), path.name)
        chunks += chunk_article(article, 120, 20)
    return chunks


@pytest.mark.parametrize("arrival", ["sorted", "shuffled"])
def test_counting_chunks_as_they_come_builds_what_from_chunks_builds(arrival: str) -> None:
    """An index run into an empty store counts its chunks in the order they arrive; the
    index it saves is the one built from the same chunks in (source, position) order."""
    chunks = _seed_chunks()
    ordered = sorted(chunks, key=lambda c: (c.source, c.position))
    arriving = list(ordered)
    if arrival == "shuffled":
        random.Random(3).shuffle(arriving)
    builder = lexical.LexicalBuilder()
    for chunk in arriving:
        builder.add(chunk)
    assert builder.fingerprint == fingerprint(c.chunk_id for c in chunks)
    built, want = builder.build(), LexicalIndex.from_chunks(ordered)
    assert built.chunk_ids == want.chunk_ids and built.texts == want.texts
    for name in ("accented", "folded"):
        got_field, want_field = built.fields[name], want.fields[name]
        assert set(got_field.vocab) == set(want_field.vocab)
        if arrival == "sorted":  # the same term ids too
            assert got_field.vocab == want_field.vocab
            assert (got_field.tf != want_field.tf).nnz == 0
    for query in ("chuyển đổi số", "chinh phu so", "Đề án 06", "kinh tế số năm 2025"):
        for name in ("accented", "folded"):
            got, expected = built.search(query, field=name), want.search(query, field=name)
            assert [c for c, _ in got] == [c for c, _ in expected], (query, name)
            assert [s for _, s in got] == pytest.approx([s for _, s in expected], rel=1e-6)


def test_the_saved_index_is_readable_by_its_owner_only(lex: LexicalIndex, tmp_path: Path) -> None:
    path = tmp_path / "bm25.npz"
    lex.save(path)
    assert path.stat().st_mode & 0o777 == 0o600


# -- derived from the store -------------------------------------------------------------
@pytest.fixture
def indexed(fake_settings: Settings) -> tuple[Settings, ChunkStore]:
    summary = run_index([PAGES], fake_settings)
    return fake_settings, ChunkStore(fake_settings, summary.embedder)


def _ids_in_store(store: ChunkStore) -> set[str]:
    return set(store.id_sources())


def test_the_index_run_leaves_a_lexical_index_matching_the_store(indexed) -> None:
    settings, store = indexed
    saved = LexicalIndex.load(lexical_path(settings))
    assert saved is not None and set(saved.chunk_ids) == _ids_in_store(store)
    assert saved.fingerprint == fingerprint(_ids_in_store(store))


def test_the_index_counted_during_a_run_equals_a_rebuild_from_the_store(indexed) -> None:
    settings, store = indexed
    saved = LexicalIndex.load(lexical_path(settings))
    rebuilt = LexicalIndex.from_chunks(store.all_chunks())
    assert saved.chunk_ids == rebuilt.chunk_ids and saved.texts == rebuilt.texts
    for name in ("accented", "folded"):
        assert saved.fields[name].vocab == rebuilt.fields[name].vocab
        assert (saved.fields[name].tf != rebuilt.fields[name].tf).nnz == 0


def test_opening_an_unchanged_store_reads_no_ids(indexed, monkeypatch) -> None:
    settings, store = indexed
    saved = LexicalIndex.load(lexical_path(settings))

    def no_id_read():
        raise AssertionError("the index run's manifest vouches for the saved lexical index")

    monkeypatch.setattr(store, "id_sources", no_id_read)
    assert load_lexical(store, settings).fingerprint == saved.fingerprint
    store.bump_generation()  # another run changed the store: the ids are read again
    with pytest.raises(AssertionError, match="manifest vouches"):
        load_lexical(store, settings)


@pytest.mark.parametrize("damage", ["deleted", "corrupt", "wrong-shape", "stale"])
def test_lexical_index_is_rebuilt_from_the_store(indexed, damage: str) -> None:
    settings, store = indexed
    path = lexical_path(settings)
    before = LexicalIndex.load(path)
    if damage == "deleted":
        path.unlink()
    elif damage == "corrupt":
        path.write_bytes(b"\x1f\x8b garbage")
    elif damage == "wrong-shape":
        _rewrite(path, **WRONG_SHAPES["ids-and-texts-differ"])
    else:  # the store changed behind the index's back (a run killed after it wrote)
        store.bump_generation()  # what an index run does before its first write
        extra = Chunk("extra-1", "x.txt", "Tiêu đề", None, None, "Đoạn thêm về hải sản.", 0, "h", 5)
        store.upsert([extra], np.ones((1, 256), dtype=np.float32) / 16)

        def no_full_read():
            raise AssertionError("a stale index is updated from the new chunks, not rebuilt")

        store.all_chunks = no_full_read
    lex = load_lexical(store, settings)
    assert set(lex.chunk_ids) == _ids_in_store(store)
    if damage != "stale":
        assert lex.search("bệnh án điện tử") == before.search("bệnh án điện tử")
    else:
        assert lex.search("hải sản")[0][0] == "extra-1"
    reloaded = LexicalIndex.load(path)  # the rebuilt index was saved
    assert reloaded is not None and reloaded.fingerprint == lex.fingerprint


def test_an_up_to_date_index_is_not_rebuilt(indexed) -> None:
    settings, store = indexed
    path = lexical_path(settings)
    stamp = path.stat().st_mtime_ns
    os.utime(path, ns=(stamp - 10**9, stamp - 10**9))
    load_lexical(store, settings)
    assert path.stat().st_mtime_ns == stamp - 10**9


def test_index_text_includes_the_title(indexed) -> None:
    settings, store = indexed
    lex = load_lexical(store, settings)
    chunks = {c.chunk_id: c for c in store.all_chunks()}
    top = lex.search("Quảng Ninh cấp chữ ký số miễn phí", k=1)[0][0]
    assert chunks[top].source == "thue-dien-tu.txt"
