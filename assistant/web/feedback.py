"""Thumbs up/down feedback on answers, kept in SQLite so it survives restarts.

Rows export to the QA JSONL test-case format (see ``evals/datasets.py``) so that a
reviewed thumbs-down can become a regression test.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from index.config import Settings
from index.errors import HoidapError
from index.private import private_file

FEEDBACK_FILE = "feedback.sqlite3"
MAX_REASON_CHARS = 1000
MAX_TEXT_CHARS = 20_000  # question/answer text: far above real answers, bounds a bad client

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    question TEXT NOT NULL,
    standalone_question TEXT NOT NULL DEFAULT '',
    answer TEXT NOT NULL,
    citations_json TEXT NOT NULL DEFAULT '[]',
    rating INTEGER NOT NULL CHECK (rating IN (-1, 1)),
    reason TEXT,
    mode TEXT NOT NULL DEFAULT '',
    refused INTEGER NOT NULL DEFAULT 0,
    history_json TEXT NOT NULL DEFAULT '[]'
)
"""


class InvalidFeedback(HoidapError):
    code = "invalid_feedback"
    http_status = 422


def _cap(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    text = str(text).strip()
    return text[:limit] if text else None


def _check_rating(rating: Any) -> int:
    if isinstance(rating, bool) or rating not in (1, -1):
        raise InvalidFeedback(
            f"rating must be +1 (thumbs up) or -1 (thumbs down), got {rating!r}",
            f"Đánh giá phải là +1 (thích) hoặc -1 (không thích), nhận được {rating!r}",
        )
    return int(rating)


def _citations_list(citations: Any) -> list[dict]:
    """Accept a JSON string, or a list of Citation objects / dicts; return plain dicts."""
    if isinstance(citations, str):
        try:
            citations = json.loads(citations or "[]")
        except ValueError as exc:
            raise InvalidFeedback(
                f"citations_json is not valid JSON: {exc}",
                f"citations_json không phải JSON hợp lệ: {exc}",
            ) from exc
    if citations is None:
        return []
    if not isinstance(citations, Sequence):
        raise InvalidFeedback(
            "citations must be a list of citation objects",
            "citations phải là danh sách các trích dẫn",
        )
    out = [asdict(c) if is_dataclass(c) and not isinstance(c, type) else c for c in citations]
    if not all(isinstance(c, dict) for c in out):
        raise InvalidFeedback(
            "each citation must be an object with at least 'source'",
            "mỗi trích dẫn phải là một đối tượng có trường 'source'",
        )
    return out


class FeedbackStore:
    """SQLite (WAL) table of feedback rows; the file is created on first use."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._ready = False
        self._init_lock = threading.Lock()

    @classmethod
    def for_settings(cls, settings: Settings) -> FeedbackStore:
        return cls(settings.home / FEEDBACK_FILE)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One short-lived connection per call: safe from any thread (Gradio workers)."""
        self._ensure_schema()
        with closing(sqlite3.connect(self.path, timeout=10)) as conn:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA synchronous=FULL")
            with conn:  # commits on success, rolls back on error
                yield conn

    def _ensure_schema(self) -> None:
        """Create the table and switch to WAL once, under a lock.

        Switching the journal mode takes an exclusive lock that SQLite's busy timeout does
        not wait for, so threads racing through a first call would fail with "database is
        locked" and lose their votes.
        """
        with self._init_lock:
            if self._ready:
                return
            private_file(self.path)  # 0600 before SQLite makes its -wal and -shm
            with closing(sqlite3.connect(self.path, timeout=10)) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(_SCHEMA)
                conn.commit()
            self._ready = True

    def record(
        self,
        question: str,
        answer_text: str,
        citations_json: Any,
        rating: int,
        reason: str | None = None,
        standalone_question: str = "",
        mode: str = "",
        *,
        refused: bool | None = None,
        history: list[dict] | None = None,
    ) -> int:
        """Store one vote; returns its row id. ``refused`` defaults to "no citations"."""
        rating = _check_rating(rating)
        if not isinstance(question, str) or not question.strip():
            raise InvalidFeedback(
                "question is empty; feedback must name the question it rates",
                "Câu hỏi trống; góp ý phải gắn với câu hỏi được đánh giá",
            )
        citations = _citations_list(citations_json)
        if refused is None:
            refused = not citations
        row = (
            datetime.now(UTC).isoformat(timespec="seconds"),
            question.strip()[:MAX_TEXT_CHARS],
            (standalone_question or "")[:MAX_TEXT_CHARS],
            (answer_text or "")[:MAX_TEXT_CHARS],
            json.dumps(citations, ensure_ascii=False),
            rating,
            _cap(reason, MAX_REASON_CHARS),
            mode or "",
            int(bool(refused)),
            json.dumps(list(history or []), ensure_ascii=False),
        )
        with self._connect() as conn:
            cur = conn.execute(
                "INSERT INTO feedback (created_at, question, standalone_question, answer,"
                " citations_json, rating, reason, mode, refused, history_json)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            return int(cur.lastrowid)

    def set_reason(self, row_id: int, reason: str | None) -> bool:
        """Attach (or replace) the reason of an earlier vote; False if the row is gone."""
        with self._connect() as conn:
            cur = conn.execute(
                "UPDATE feedback SET reason = ? WHERE id = ?",
                (_cap(reason, MAX_REASON_CHARS), int(row_id)),
            )
            return cur.rowcount == 1

    def delete(self, row_id: int) -> bool:
        """Remove a vote the user took back."""
        with self._connect() as conn:
            return conn.execute("DELETE FROM feedback WHERE id = ?", (int(row_id),)).rowcount == 1

    def rows(self) -> list[dict]:
        """All votes, oldest first, with JSON columns decoded."""
        if not self.path.exists():
            return []
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM feedback ORDER BY id").fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["citations"] = json.loads(d.pop("citations_json"))
            d["history"] = json.loads(d.pop("history_json"))
            d["refused"] = bool(d["refused"])
            out.append(d)
        return out

    def export_jsonl(self, path: str | Path) -> int:
        """Write every vote as a QA JSONL test case; returns how many were written."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = self.rows()
        with path.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(to_test_case(row), ensure_ascii=False) + "\n")
        return len(rows)


def to_test_case(row: dict) -> dict:
    """One feedback row → a QA JSONL item, with the vote under ``feedback``.

    Gold ``answers`` stay empty: a reviewer fills in the short answer span. What a vote
    does tell us: 👍 on an answer confirms its cited sources, 👍 on a refusal says the
    question is unanswerable, 👎 on a refusal says it should have been answered. 👎 on an
    answer is ambiguous (wrong passage, or should have refused), so it is flagged for review.
    """
    up, refused = row["rating"] > 0, row["refused"]
    answerable = not refused if up else True  # 👎 on an answer: unknown until reviewed
    sources = list(dict.fromkeys(c.get("source") for c in row["citations"] if c.get("source")))
    case: dict = {
        "id": f"feedback-{row['id']}",
        "question": row["question"],
        "answers": [],
        "sources": sources if up and not refused else [],
        "answerable": answerable,
        "kind": "feedback",
        "feedback": {
            "rating": row["rating"],
            "reason": row["reason"],
            "answer": row["answer"],
            "refused": refused,
            "mode": row["mode"],
            "standalone_question": row["standalone_question"],
            "citations": row["citations"],
            "created_at": row["created_at"],
            "needs_review": not up,
        },
    }
    if row["history"]:
        case["history"] = row["history"]
    return case
