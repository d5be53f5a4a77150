"""The server's request log: one JSON line per HTTP request and per answer, in the data dir.

Requests record method, path (never the query string), status and latency; answers record
whether the assistant refused and which articles it cited. Question text is kept only
when ``HOIDAP_LOG_QUESTIONS=1`` (it may hold personal data), and no header, key or body
is ever written. ``hoidap report gaps`` reads it with the stored feedback. The file is
owner-only and rotates at ``MAX_BYTES`` (one older file is kept).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from index.config import Settings
from index.private import private_dir, private_file

LOG_FILE = "requests.jsonl"
MAX_BYTES = 20 * 1024 * 1024
MAX_QUESTION_CHARS = 2000


def log_path(settings: Settings) -> Path:
    return settings.home / "logs" / LOG_FILE


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RequestLog:
    """Appends JSON lines; safe to share between threads (one lock, one short write)."""

    def __init__(self, path: Path, log_questions: bool = False, max_bytes: int = MAX_BYTES):
        self.path = Path(path)
        self.log_questions = log_questions
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    @classmethod
    def for_settings(cls, settings: Settings) -> RequestLog:
        return cls(log_path(settings), settings.log_questions)

    def write(self, record: dict) -> None:
        line = json.dumps({"ts": _now(), **record}, ensure_ascii=False) + "\n"
        with self._lock:
            private_dir(self.path.parent)
            try:
                if self.path.stat().st_size + len(line) > self.max_bytes:
                    os.replace(self.path, self.path.with_name(self.path.name + ".1"))
            except FileNotFoundError:
                pass
            if not self.path.exists():
                private_file(self.path)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line)

    def request(self, method: str, path: str, status: int, ms: float) -> None:
        self.write(
            {
                "event": "request",
                "method": method,
                "path": path,
                "status": status,
                "ms": round(ms, 1),
            }
        )

    def answer(self, question: str, answer) -> None:
        """What the assistant did with a question (called once per finished answer)."""
        record = {
            "event": "answer",
            "refused": bool(answer.refused),
            "mode": answer.mode,
            "sources": sorted({c.source for c in answer.citations}),
            "latency_ms": round(float(answer.latency_ms or 0.0), 1),
        }
        if self.log_questions:
            record["question"] = question[:MAX_QUESTION_CHARS]
        self.write(record)

    def records(self) -> list[dict]:
        """Every readable line, older file first; a damaged line is skipped, not fatal."""
        out = []
        for path in (self.path.with_name(self.path.name + ".1"), self.path):
            if not path.is_file():
                continue
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    item = json.loads(line)
                except ValueError:
                    continue
                if isinstance(item, dict):
                    out.append(item)
        return out


class RequestLogMiddleware:
    """ASGI middleware: one line per HTTP request, after its response has been sent."""

    def __init__(self, app, log: RequestLog):
        self.app = app
        self.log = log

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def recording_send(message):
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            ms = (time.perf_counter() - started) * 1000
            with contextlib.suppress(OSError):  # a full disk must not take the answer down
                self.log.request(scope.get("method", ""), scope.get("path", ""), status["code"], ms)
