"""What the articles are missing: the questions the assistant could not answer, grouped.

Two sources, both kept in the data dir: thumbs-down votes (``feedback.sqlite3``, with the
question text) and refusals in the server's request log (question text only when
``HOIDAP_LOG_QUESTIONS=1``). Questions are grouped by how many syllables and syllable
pairs they share, compared without accents, so «tỉnh nào…» typed with or without
diacritics, or asked twice in other words, lands in one group. Each group has a count,
its first and last date and its wordings; it exports as QA JSONL cases for
``hoidap eval`` once an editor has written the answer into an article.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from assistant.web.feedback import FeedbackStore
from assistant.web.request_log import RequestLog
from assistant.web.terminal import printable
from index.config import Settings
from index.normalize import fold, syllables

SIMILAR = 0.45  # Jaccard overlap of syllables + pairs for two questions to share a group


@dataclass
class Miss:
    question: str
    at: str  # ISO date-time
    why: str  # "refused" | "thumbs_down"


@dataclass
class Gap:
    questions: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    first: str = ""
    last: str = ""
    terms: set[str] = field(default_factory=set)

    @property
    def count(self) -> int:
        return sum(self.questions.values())

    @property
    def representative(self) -> str:
        return self.questions.most_common(1)[0][0]

    def to_json(self) -> dict:
        return {
            "question": self.representative,
            "count": self.count,
            "first": self.first,
            "last": self.last,
            "reasons": dict(self.reasons),
            "wordings": [q for q, _ in self.questions.most_common()],
        }


def _terms(question: str) -> set[str]:
    sylls = [fold(s) for s in syllables(question)]
    return set(sylls) | {f"{a} {b}" for a, b in zip(sylls, sylls[1:], strict=False)}


def collect(settings: Settings) -> list[Miss]:
    """Unanswered questions from the feedback store and the request log, oldest first."""
    misses = [
        Miss(row["question"], row["created_at"], "thumbs_down")
        for row in FeedbackStore.for_settings(settings).rows()
        if row["rating"] < 0 and row["question"].strip()
    ]
    for record in RequestLog.for_settings(settings).records():
        question = record.get("question")
        if not (isinstance(question, str) and question.strip()):
            continue
        if record.get("event") == "answer" and record.get("refused"):
            misses.append(Miss(question, str(record.get("ts", "")), "refused"))
    return sorted(misses, key=lambda m: m.at)


def group(misses: list[Miss], similar: float = SIMILAR) -> list[Gap]:
    """Greedy grouping: each question joins the group it overlaps most (≥ ``similar``)."""
    gaps: list[Gap] = []
    for miss in misses:
        terms = _terms(miss.question)
        if not terms:
            continue
        best, score = None, 0.0
        for gap in gaps:
            overlap = len(terms & gap.terms) / len(terms | gap.terms)
            if overlap > score:
                best, score = gap, overlap
        if best is None or score < similar:
            best = Gap(first=miss.at, terms=terms)
            gaps.append(best)
        best.questions[" ".join(miss.question.split())] += 1
        best.reasons[miss.why] += 1
        best.first = min(best.first, miss.at) if best.first else miss.at
        best.last = max(best.last, miss.at)
    return sorted(gaps, key=lambda g: (-g.count, g.first))


def report(settings: Settings) -> list[Gap]:
    return group(collect(settings))


def to_cases(gaps: list[Gap]) -> list[dict]:
    """QA JSONL cases (``evals/datasets.py``): the answer is left for an editor to write."""
    return [
        {
            "id": f"gap-{i + 1}",
            "question": gap.representative,
            "answers": [],
            "sources": [],
            "answerable": True,
            "kind": "gap",
            "gap": gap.to_json(),
        }
        for i, gap in enumerate(gaps)
    ]


def render(gaps: list[Gap]) -> str:
    """The report for a terminal, in Vietnamese; questions come from public clients, so
    their control characters are shown as escapes, never sent to the terminal."""
    if not gaps:
        return "Chưa có câu hỏi nào bị từ chối hay bị đánh giá không hài lòng."
    reason_vi = {"refused": "từ chối", "thumbs_down": "không hài lòng"}
    lines = [f"{len(gaps)} nhóm câu hỏi chưa được trả lời (nhiều nhất trước):", ""]
    for i, gap in enumerate(gaps, 1):
        why = ", ".join(f"{reason_vi.get(k, k)} {v}" for k, v in gap.reasons.most_common())
        lines.append(f"{i}. {printable(gap.representative)}")
        lines.append(f"   {gap.count} lần ({why}); từ {gap.first[:10]} đến {gap.last[:10]}")
        for other in [q for q, _ in gap.questions.most_common()][1:4]:
            lines.append(f"   cũng hỏi: {printable(other)}")
    return "\n".join(lines)


def export(gaps: list[Gap], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    cases = to_cases(gaps)
    with path.open("w", encoding="utf-8") as fh:
        for case in cases:
            fh.write(json.dumps(case, ensure_ascii=False) + "\n")
    return len(cases)
