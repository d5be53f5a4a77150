"""The feedback store: durable SQLite rows, validation, export to QA JSONL test cases."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import asdict

import pytest

from assistant.answering.answer import REFUSAL_TEXT, Citation
from assistant.web.feedback import MAX_REASON_CHARS, FeedbackStore, InvalidFeedback
from evals.datasets import iter_qa_jsonl
from index.config import Settings

CITE = Citation(
    n=1,
    source="001_c7e9e54a34adfa75.txt",
    title="Đề án 06",
    date="2023-05-09",
    chunk_id="001#3",
    text="Đề án 06 về dữ liệu dân cư. Bộ Tài chính đề xuất cơ chế mới.",
    quote="Bộ Tài chính đề xuất cơ chế mới.",
)
HISTORY = [
    {"role": "user", "content": "Đề án 06 là gì?"},
    {"role": "assistant", "content": "Đề án về dữ liệu dân cư [1]"},
]


@pytest.fixture
def store(hoidap_home) -> FeedbackStore:
    return FeedbackStore.for_settings(Settings.load())


def record_answer(store: FeedbackStore, rating: int, reason: str | None = None, **kw) -> int:
    return store.record(
        "Bộ Tài chính đề xuất gì?",
        "Bộ Tài chính đề xuất cơ chế mới. [1]",
        json.dumps([asdict(CITE)], ensure_ascii=False),
        rating,
        reason,
        "Bộ Tài chính đề xuất gì?",
        "extractive",
        **kw,
    )


def test_file_is_created_on_first_use_in_wal_mode(store, hoidap_home) -> None:
    assert store.path == hoidap_home / "feedback.sqlite3"
    assert not store.path.exists()  # constructing the store writes nothing
    row_id = record_answer(store, -1, "Trích sai đoạn")
    assert store.path.exists()
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        row = conn.execute(
            "SELECT question, answer, rating, reason, mode, refused, created_at, citations_json"
            " FROM feedback WHERE id = ?",
            (row_id,),
        ).fetchone()
    question, answer, rating, reason, mode, refused, created_at, citations = row
    assert (question, rating, reason, mode, refused) == (
        "Bộ Tài chính đề xuất gì?",
        -1,
        "Trích sai đoạn",
        "extractive",
        0,
    )
    assert answer.startswith("Bộ Tài chính đề xuất")
    assert created_at[:4].isdigit() and created_at.endswith("+00:00")
    assert json.loads(citations)[0]["source"] == CITE.source


def test_rows_survive_a_new_store_instance(store) -> None:
    record_answer(store, 1)
    again = FeedbackStore(store.path)  # e.g. after a server restart
    rows = again.rows()
    assert len(rows) == 1 and rows[0]["rating"] == 1 and rows[0]["citations"][0]["n"] == 1


@pytest.mark.parametrize("rating", [0, 2, -2, True, False, "1", None, 1.5])
def test_invalid_ratings_are_rejected_clearly(store, rating) -> None:
    with pytest.raises(InvalidFeedback) as info:
        record_answer(store, rating)
    assert info.value.code == "invalid_feedback" and info.value.http_status == 422
    assert "+1" in info.value.message_en and "Đánh giá" in info.value.message_vi
    assert store.rows() == []


def test_other_bad_input_is_rejected(store) -> None:
    with pytest.raises(InvalidFeedback, match="not valid JSON"):
        store.record("Câu hỏi?", "Trả lời", "{not json", 1)
    with pytest.raises(InvalidFeedback, match="question is empty"):
        store.record("   ", "Trả lời", "[]", 1)
    with pytest.raises(InvalidFeedback, match="each citation"):
        store.record("Câu hỏi?", "Trả lời", [1, 2], 1)


def test_reason_is_capped_and_blank_reason_is_null(store) -> None:
    long_id = record_answer(store, -1, "x" * (MAX_REASON_CHARS + 500))
    blank_id = record_answer(store, -1, "   ")
    rows = {r["id"]: r for r in store.rows()}
    assert len(rows[long_id]["reason"]) == MAX_REASON_CHARS
    assert rows[blank_id]["reason"] is None


def test_reason_added_later_and_vote_withdrawn(store) -> None:
    row_id = record_answer(store, -1)
    assert store.set_reason(row_id, "Thiếu ý chính")
    assert store.rows()[0]["reason"] == "Thiếu ý chính"
    assert store.delete(row_id)
    assert store.rows() == []
    assert not store.set_reason(row_id, "quá muộn")


def test_citation_objects_are_accepted_and_refused_defaults_from_citations(store) -> None:
    store.record("Giá vàng hôm nay?", REFUSAL_TEXT, [], 1)
    store.record("Đề án 06?", "Trả lời [1]", [CITE], 1)
    refused, answered = store.rows()
    assert refused["refused"] is True and answered["refused"] is False
    assert answered["citations"][0]["quote"] == CITE.quote


def test_concurrent_writers_lose_nothing(store) -> None:
    """Writers released together on a fresh file: the first-use schema set-up races too."""
    start = threading.Barrier(8)

    def write(k: int) -> None:
        start.wait()
        for i in range(10):
            store.record(f"Câu hỏi {k}-{i}?", "Trả lời", "[]", 1 if i % 2 else -1)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = store.rows()
    assert len(rows) == 80 and len({r["question"] for r in rows}) == 80


def test_export_is_a_loadable_qa_jsonl_file(store, tmp_path) -> None:
    record_answer(store, 1, history=HISTORY)  # 👍 answer: sources confirmed
    store.record("Giá vàng hôm nay?", REFUSAL_TEXT, "[]", 1, mode="extractive")  # 👍 refusal
    store.record("Nam Định ban hành kế hoạch số mấy?", REFUSAL_TEXT, "[]", -1, "Có trong bài")
    record_answer(store, -1, "Sai bài")  # 👎 answer: needs review
    out = tmp_path / "exports" / "feedback.jsonl"
    assert store.export_jsonl(out) == 4

    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    up_answer, up_refusal, down_refusal, down_answer = lines
    assert up_answer["sources"] == [CITE.source] and up_answer["answerable"] is True
    assert up_answer["history"] == HISTORY and up_answer["answers"] == []
    assert up_refusal["answerable"] is False and up_refusal["sources"] == []
    assert (
        down_refusal["answerable"] is True and down_refusal["feedback"]["reason"] == "Có trong bài"
    )
    assert down_answer["sources"] == [] and down_answer["feedback"]["needs_review"] is True
    assert down_answer["feedback"]["rating"] == -1
    assert down_answer["feedback"]["citations"][0]["chunk_id"] == CITE.chunk_id
    assert "history" not in down_answer

    items = list(iter_qa_jsonl(out))  # the eval loader accepts every exported line
    assert [i.id for i in items] == [line["id"] for line in lines]
    assert items[0].history == HISTORY and items[1].answerable is False


def test_export_of_empty_store_writes_an_empty_file(store, tmp_path) -> None:
    out = tmp_path / "empty.jsonl"
    assert store.export_jsonl(out) == 0
    assert out.read_text(encoding="utf-8") == ""
    assert not store.path.exists()  # exporting does not create the database
