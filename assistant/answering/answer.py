"""The answer object every interface returns (CLI --json, API, UI, eval predictions)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from index.types import ScoredChunk


@dataclass
class Citation:
    """A verified pointer from an answer sentence to the passage that supports it."""

    n: int  # the marker number, [n] in the answer text
    source: str  # the article's identifier (file name or web address); not shown to readers
    title: str
    date: str | None
    chunk_id: str
    text: str  # the whole passage
    quote: str  # the supporting span, verbatim from ``text``
    url: str | None = None  # the original article's address (web sources); shown as a link


@dataclass
class Answer:
    question: str
    answer: str
    refused: bool
    citations: list[Citation]
    mode: str  # "extractive" | "llm"
    latency_ms: float
    standalone_question: str = ""
    notice: str | None = None  # short Vietnamese notice, e.g. LLM unavailable
    retrieved: list[ScoredChunk] = field(default_factory=list)
    top_score: float = 0.0

    def to_json(self) -> dict:
        """The public shape of ``hoidap ask --json`` and ``POST /v1/ask``."""
        return {
            "question": self.question,
            "answer": self.answer,
            "refused": self.refused,
            "citations": [asdict(c) for c in self.citations],
            "mode": self.mode,
            "latency_ms": round(self.latency_ms, 2),
            "standalone_question": self.standalone_question,
            "notice": self.notice,
        }

    def retrieved_json(self) -> list[dict]:
        return [
            {"chunk_id": s.chunk.chunk_id, "source": s.chunk.source, "score": round(s.score, 6)}
            for s in self.retrieved
        ]


REFUSAL_TEXT = "Tôi không tìm thấy thông tin này trong các bài viết."
