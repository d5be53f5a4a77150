"""Format detection, parsing and error messages of evals.datasets."""

from __future__ import annotations

import json
import shutil
import unicodedata
from pathlib import Path

import pytest

from evals.datasets import (
    Dataset,
    DatasetFormatError,
    QAItem,
    context_key,
    iter_qa_jsonl,
    load_dataset,
)
from index.errors import HoidapError

DATA = Path(__file__).parent / "data" / "eval"


def test_error_is_a_hoidap_error():
    assert issubclass(DatasetFormatError, HoidapError)
    assert DatasetFormatError.code == "dataset_format_error"


# --------------------------------------------------------------------------- BEIR


def test_beir_directory():
    ds = load_dataset(DATA / "beir_tiny")
    assert isinstance(ds, Dataset)
    assert ds.format == "beir" and ds.name == "beir_tiny"
    assert ds.corpus == {
        "d1": {
            "title": "Chuyển đổi số",
            "text": "Thủ tướng chủ trì phiên họp Ủy ban Quốc gia về chuyển đổi số.",
        },
        "d2": {"title": "Kinh tế", "text": "GDP quý III tăng 7,4%."},
        "d3": {"title": "", "text": "Hà Nội có mưa lớn."},  # no title, blank line before it
    }
    assert ds.qrels == {"q1": {"d1": 2, "d3": 0}, "q2": {"d2": 1}}
    # Only queries judged in qrels/test.tsv; sources are the relevant (score >= 1) docs.
    assert [it.id for it in ds.items] == ["q1", "q2"]
    assert ds.items[0] == QAItem(
        "q1", "Ai chủ trì phiên họp về chuyển đổi số?", [], ["d1"], True, None, None
    )


def test_beir_missing_files(tmp_path):
    (tmp_path / "corpus.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(DatasetFormatError) as exc:
        load_dataset(tmp_path)
    msg = str(exc.value)
    assert str(tmp_path) in msg
    assert "queries.jsonl" in msg and "qrels/test.tsv" in msg
    assert ".csv" in msg  # names the formats expected


def _copy_beir(tmp_path: Path) -> Path:
    dst = tmp_path / "beir"
    shutil.copytree(DATA / "beir_tiny", dst)
    return dst


def test_beir_bad_qrels_score(tmp_path):
    root = _copy_beir(tmp_path)
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\thigh\n", encoding="utf-8"
    )
    with pytest.raises(DatasetFormatError, match=r"test\.tsv:3: score 'high' is not an integer"):
        load_dataset(root)


def test_beir_bad_corpus_line_and_unknown_ids(tmp_path):
    root = _copy_beir(tmp_path)
    with (root / "corpus.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"_id": "d4", "text": "unterminated\n')
    with pytest.raises(DatasetFormatError, match=r"corpus\.jsonl:5: invalid JSON"):
        load_dataset(root)

    root = _copy_beir(tmp_path / "b")
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\tnope\t1\n", encoding="utf-8"
    )
    with pytest.raises(DatasetFormatError, match="corpus id.*'nope'"):
        load_dataset(root)


# --------------------------------------------------------------------------- SQuAD


def test_squad_v2():
    ds = load_dataset(DATA / "squad_v2_tiny.json")
    assert ds.format == "squad" and ds.name == "squad_v2_tiny"
    # Two distinct contexts: the GDP paragraph appears under two articles but is one doc.
    assert list(ds.corpus) == ["c0", "c1"]
    assert ds.corpus["c0"]["title"] == "Chuyển đổi số"
    assert ds.corpus["c1"] == {"title": "Chuyển đổi số", "text": "GDP quý III tăng 7,4%."}
    by_id = {it.id: it for it in ds.items}
    assert [it.id for it in ds.items] == ["s1", "s2", "s3", "s4"]
    # Duplicate annotator answers collapse, order kept.
    assert by_id["s1"].answers == ["Thủ tướng Phạm Minh Chính", "Phạm Minh Chính"]
    assert by_id["s1"].sources == ["c0"] and by_id["s1"].answerable
    # Impossible: no answers (plausible_answers ignored), own paragraph still the source.
    assert by_id["s2"].answerable is False and by_id["s2"].answers == []
    assert by_id["s2"].sources == ["c0"]
    # SQuAD v1 style (no is_impossible) -> answerable.
    assert by_id["s4"].answerable and by_id["s4"].sources == ["c1"]
    # qrels only for answerable questions.
    assert ds.qrels == {"s1": {"c0": 1}, "s3": {"c1": 1}, "s4": {"c1": 1}}


def test_squad_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"data": [\n  {"title": "x",,}\n]}', encoding="utf-8")
    with pytest.raises(DatasetFormatError, match=r"bad\.json:2: invalid JSON"):
        load_dataset(bad)

    notsquad = tmp_path / "list.json"
    notsquad.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(DatasetFormatError, match=r"list\.json.*'data'.*SQuAD"):
        load_dataset(notsquad)

    noq = tmp_path / "noq.json"
    noq.write_text(
        json.dumps(
            {"data": [{"title": "t", "paragraphs": [{"context": "c", "qas": [{"id": "x"}]}]}]}
        ),
        encoding="utf-8",
    )
    with pytest.raises(
        DatasetFormatError,
        match=r"data\[0\]\.paragraphs\[0\]\.qas\[0\]: missing or empty 'question'",
    ):
        load_dataset(noq)


# --------------------------------------------------------------------------- CSV


def test_csv_bom_dedup_and_unanswerable():
    ds = load_dataset(DATA / "tiny.csv")
    assert ds.format == "csv" and ds.name == "tiny"
    # Rows 0/1 differ only in whitespace, rows 2/3 only by full-width digits (NFKC).
    assert list(ds.corpus) == ["c0", "c1", "c2"]
    assert ds.corpus["c0"]["text"] == "Hà Nội là thủ đô của Việt Nam."  # first-seen text kept
    assert ds.corpus["c2"]["text"] == "Đà Nẵng có\ncầu Rồng."
    # The BOM-prefixed header still yields the 'idx' column, used as the question id.
    assert [(it.id, it.sources) for it in ds.items] == [
        ("0", ["c0"]),
        ("1", ["c0"]),
        ("2", ["c1"]),
        ("3", ["c1"]),
        ("4", ["c2"]),
    ]
    assert ds.items[0].answers == ["Hà Nội"] and ds.items[0].answerable
    assert ds.items[4].answers == [] and ds.items[4].answerable is False
    assert ds.qrels == {"0": {"c0": 1}, "1": {"c0": 1}, "2": {"c1": 1}, "3": {"c1": 1}}


def test_csv_without_id_column_and_errors(tmp_path):
    p = tmp_path / "plain.csv"
    p.write_text("\ufeffcontext,question,answer\nA b.,Q1?,b\nA  b.,Q2?,A\n", encoding="utf-8")
    ds = load_dataset(p)
    assert [it.id for it in ds.items] == ["q0", "q1"]
    assert list(ds.corpus) == ["c0"]

    missing = tmp_path / "missing.csv"
    missing.write_text("context,question\nA,Q\n", encoding="utf-8")
    with pytest.raises(DatasetFormatError, match=r"missing\.csv:1: missing column\(s\) answer"):
        load_dataset(missing)

    short = tmp_path / "short.csv"
    short.write_text("context,question,answer\nA,Q,a\nB,Q2\n", encoding="utf-8")
    with pytest.raises(DatasetFormatError, match=r"short\.csv:3: expected 3 cells, got 2"):
        load_dataset(short)


def test_context_key_nfkc_and_whitespace():
    assert context_key("Hà  Nội\n") == context_key(unicodedata.normalize("NFD", "Hà Nội"))
    assert context_key("năm ２０２３") == "năm 2023"


# --------------------------------------------------------------------------- QA JSONL


def test_qa_jsonl_good():
    ds = load_dataset(DATA / "qa_good.jsonl")
    assert ds.format == "qa_jsonl" and ds.corpus is None
    a1, a2, a3 = ds.items
    assert a1 == QAItem(
        "a1",
        "Ai chủ trì phiên họp?",
        ["Thủ tướng Phạm Minh Chính"],
        ["000_9413930f2d315b59.txt"],
        True,
        None,
        "factoid",
    )
    assert a2.answerable is True  # defaulted from answers/sources
    assert a2.history == [
        {"role": "user", "content": "Kinh tế quý III thế nào?"},
        {"role": "assistant", "content": "Tăng trưởng khá."},
    ]
    assert a3.answerable is False and a3.answers == [] and a3.kind == "unanswerable"
    assert ds.qrels == {
        "a1": {"000_9413930f2d315b59.txt": 1},
        "a2": {"001_c7e9e54a34adfa75.txt": 1},
    }


def test_qa_jsonl_bad_line_names_file_and_line():
    path = DATA / "qa_bad_line.jsonl"
    with pytest.raises(DatasetFormatError) as exc:
        load_dataset(path)
    assert str(exc.value) == f"{path}:3: 'answers' must be a list of strings"
    assert exc.value.message_vi  # HoidapError carries both messages
    # Streaming: the good lines come out before the error.
    it = iter_qa_jsonl(path)
    assert next(it).id == "a1" and next(it).id == "a2"
    with pytest.raises(DatasetFormatError):
        next(it)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("not json", "invalid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('{"question": "Q?"}', "missing or empty 'id'"),
        ('{"id": "x", "question": "  "}', "missing or empty 'question'"),
        (
            '{"id": "x", "question": "Q?", "sources": "a.txt"}',
            "'sources' must be a list of strings",
        ),
        (
            '{"id": "x", "question": "Q?", "answerable": "yes"}',
            "'answerable' must be true or false",
        ),
        (
            '{"id": "x", "question": "Q?", "answerable": false, "answers": ["a"]}',
            "'answerable' is false but 'answers' is not empty",
        ),
        (
            '{"id": "x", "question": "Q?", "history": [{"role": "bot", "content": "hi"}]}',
            "'history'[0]",
        ),
        ('{"id": "x", "question": "Q?", "kind": 3}', "'kind' must be a string"),
        ('{"id": "a", "question": "Q?"}', "duplicate id 'a' (first on line 1)"),
    ],
)
def test_qa_jsonl_validation(tmp_path, line, problem):
    p = tmp_path / "qa.jsonl"
    p.write_text('{"id": "a", "question": "Q?"}\n\n' + line + "\n", encoding="utf-8")
    with pytest.raises(DatasetFormatError) as exc:
        load_dataset(p)
    assert str(exc.value).startswith(f"{p}:3: ")
    assert problem in str(exc.value)


def test_qa_jsonl_invalid_utf8_and_bom(tmp_path):
    p = tmp_path / "latin.jsonl"
    p.write_bytes(b'{"id": "a", "question": "Q?"}\n{"id": "b", "question": "Qu\xe9?"}\n')
    with pytest.raises(DatasetFormatError, match=r"latin\.jsonl:2: not valid UTF-8"):
        load_dataset(p)
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes('\ufeff{"id": 1, "question": "Q?"}\n'.encode())
    assert load_dataset(bom).items[0].id == "1"


def test_qa_jsonl_large_file_streams(tmp_path):
    p = tmp_path / "big.jsonl"
    with p.open("w", encoding="utf-8") as fh:
        for i in range(20000):
            fh.write(
                json.dumps({"id": f"q{i}", "question": f"Câu hỏi {i}?", "answers": [str(i)]}) + "\n"
            )
    ds = load_dataset(p)
    assert len(ds.items) == 20000 and ds.items[-1].answers == ["19999"]


# --------------------------------------------------------------------------- detection


def test_unknown_format_and_missing_path(tmp_path):
    txt = tmp_path / "notes.txt"
    txt.write_text("hello", encoding="utf-8")
    with pytest.raises(DatasetFormatError) as exc:
        load_dataset(txt)
    msg = str(exc.value)
    assert str(txt) in msg and "'.txt'" in msg
    for fmt in ("BEIR", ".jsonl", "SQuAD", ".csv"):
        assert fmt in msg
    with pytest.raises(DatasetFormatError, match="no such file or directory"):
        load_dataset(tmp_path / "absent.jsonl")
