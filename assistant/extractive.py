"""Offline answerer: pick the passage sentences that answer the question, cite each one.

Deterministic and unable to invent anything: every answer sentence is copied from a
retrieved passage and followed by its marker. It also decides when to refuse: a
question whose key terms, numbers, names or expected answer type are not supported
by any retrieved sentence is refused rather than answered with a neighbouring fact.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from index.chunker import split_sentences
from index.lexical import LexicalIndex
from index.normalize import fold, match_form
from index.types import ScoredChunk

# Question words and function words that carry no content for matching.
STOPWORDS = set(
    """
    gì nào ai đâu sao bao nhiêu mấy không có là của và các những được đã đang sẽ thì mà với cho
    trong tại theo về để này đó ấy như thế nào khi bởi vì do từ đến ra vào lên một hai việc
    hãy cho biết xin vậy còn nêu kể tên cụ thể những gì hả nhỉ à ạ ở bị rằng người nó họ
    what which who when where how many much is are was were the a an of in on to for does did do
    """.split()
)

_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*")
_DATE_RE = re.compile(r"\b\d{1,2}[/-]\d{1,2}(?:[/-]\d{2,4})?\b|\bnăm \d{4}\b|\btháng \d{1,2}\b|\bngày \d{1,2}\b|\bquý [ivx]+\b")
_DOCNUM_RE = re.compile(r"\b\d+[\w]*(?:[/-][\wđĐ]+)+")
_NAME_RE = re.compile(r"(?:[A-ZĐÂĂÊÔƠƯÁÀẢÃẠ][\wÀ-ỹ]*)(?:\s+[A-ZĐÂĂÊÔƠƯÁÀẢÃẠ][\wÀ-ỹ]*)+", re.U)

# Expected answer types, by the question words that ask for them.
ANSWER_TYPES = [
    ("number", re.compile(r"\b(bao nhiêu|mấy|bao nhieu|may|số lượng|tỷ lệ|tỉ lệ|how many|how much|percent)\b")),
    ("date", re.compile(r"\b(khi nào|bao giờ|ngày nào|năm nào|tháng nào|lúc nào|thời điểm nào|when|what date|which year)\b")),
    ("docnum", re.compile(r"\b(số hiệu|văn bản số|số mấy)\b")),
]


@dataclass
class Evidence:
    sentence: str
    passage: ScoredChunk
    score: float
    coverage: float
    rank: int
    reasons: list[str] = field(default_factory=list)


@dataclass
class ExtractiveResult:
    evidence: list[Evidence]
    support: float  # best evidence score in [0, 1]; compared with the refusal threshold
    missing: list[str]  # why the best evidence falls short (for logs and the eval report)


def content_terms(text: str, folded: bool) -> list[str]:
    form = match_form(text)
    if folded:
        form = fold(form)
    stop = {fold(s) for s in STOPWORDS} if folded else STOPWORDS
    return [t for t in re.findall(r"\w+", form) if t not in stop]


def _tokens(text: str, folded: bool) -> set[str]:
    form = match_form(text)
    return set(re.findall(r"\w+", fold(form) if folded else form))


def _bigrams(terms: list[str]) -> set[tuple[str, str]]:
    return set(zip(terms, terms[1:], strict=False))


def expected_type(question: str) -> str | None:
    q = match_form(question)
    for name, rx in ANSWER_TYPES:
        if rx.search(q) or rx.search(fold(q)):
            return name
    return None


def query_numbers(question: str) -> set[str]:
    return set(_NUMBER_RE.findall(question))


def query_names(question: str) -> list[str]:
    """Proper names in the question (two or more capitalised syllables, not the first word alone)."""
    names = []
    for m in _NAME_RE.finditer(question):
        name = m.group(0)
        words = name.split()
        if m.start() == 0 and len(words) == 2 and words[0].lower() in {"còn", "thủ", "phó"}:
            continue
        names.append(name)
    return names


class ExtractiveAnswerer:
    """Scores sentences of the retrieved passages against the question."""

    def __init__(self, lexical: LexicalIndex, max_sentences: int = 2, passages: int = 4):
        self.lexical = lexical
        self.max_sentences = max_sentences
        self.passages = passages

    def _idf(self, term: str, folded: bool) -> float:
        return self.lexical.idf(term, "folded" if folded else "accented")

    def analyse(self, question: str, retrieved: list[ScoredChunk], accentless: bool) -> ExtractiveResult:
        folded = accentless
        q_terms = content_terms(question, folded)
        if not q_terms or not retrieved:
            return ExtractiveResult([], 0.0, ["no content terms" if not q_terms else "no passages"])
        weights = {t: self._idf(t, folded) for t in set(q_terms)}
        total = sum(weights.values()) or 1.0
        q_bigrams = _bigrams(q_terms)
        want = expected_type(question)
        q_nums = query_numbers(question)
        names = query_names(question)
        q_form = match_form(question)

        seen: set[str] = set()
        candidates: list[Evidence] = []
        top = retrieved[0].score or 1.0
        for rank, passage in enumerate(retrieved[: self.passages]):
            context = _tokens(passage.chunk.title + " " + passage.chunk.text, folded)
            context_form = match_form(passage.chunk.title + " " + passage.chunk.text)
            for sent in split_sentences(passage.chunk.text):
                key = match_form(sent)
                if key in seen or len(sent) < 15:
                    continue
                seen.add(key)
                toks = _tokens(sent, folded)
                sent_terms = content_terms(sent, folded)
                hit = sum(w for t, w in weights.items() if t in toks)
                ctx = sum(w for t, w in weights.items() if t not in toks and t in context)
                coverage = (hit + 0.5 * ctx) / total
                bigram = (len(q_bigrams & _bigrams(sent_terms)) / len(q_bigrams)) if q_bigrams else 0.0
                score = 0.7 * coverage + 0.15 * bigram + 0.15 * (passage.score / top)
                reasons: list[str] = []
                nums = set(_NUMBER_RE.findall(sent))
                missing_nums = {n for n in q_nums if n not in nums and n not in _NUMBER_RE.findall(passage.chunk.title)}
                if missing_nums:
                    score *= 0.55
                    reasons.append(f"numbers {sorted(missing_nums)} absent")
                missing_names = [n for n in names if match_form(n) not in context_form]
                if missing_names:
                    score *= 0.5
                    reasons.append(f"names {missing_names} absent")
                if want == "number" and not (nums - q_nums):
                    score *= 0.7
                    reasons.append("no number for a how-many question")
                elif want == "date" and not _DATE_RE.search(key):
                    score *= 0.75
                    reasons.append("no date for a when question")
                elif want == "docnum" and not _DOCNUM_RE.search(sent):
                    score *= 0.75
                    reasons.append("no document number")
                if key and key in q_form:
                    score *= 0.8  # the sentence only restates the question
                candidates.append(Evidence(sent, passage, score, coverage, rank, reasons))
        if not candidates:
            return ExtractiveResult([], 0.0, ["no sentences"])
        candidates.sort(key=lambda e: (-e.score, e.rank))
        best = candidates[0]
        chosen = [best]
        covered = _tokens(best.sentence, folded)
        for ev in candidates[1:]:
            if len(chosen) >= self.max_sentences:
                break
            new_terms = {t for t in weights if t in _tokens(ev.sentence, folded) and t not in covered}
            if ev.score >= 0.85 * best.score and not ev.reasons and new_terms:
                chosen.append(ev)
                covered |= _tokens(ev.sentence, folded)
        return ExtractiveResult(chosen, best.score, best.reasons)


def support_to_unit(score: float) -> float:
    """Squash for display: support scores are already in [0, 1]."""
    return max(0.0, min(1.0, score if math.isfinite(score) else 0.0))
