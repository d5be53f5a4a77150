"""Follow-up questions and bounded conversation memory.

Without an LLM, an elliptic follow-up ("Còn Bộ Y tế thì sao?") is rewritten
deterministically: the new subject replaces the entity of the same kind in the
previous question ("Thủ tướng giao Bộ Tài chính nhiệm vụ gì?" → "Thủ tướng giao
Bộ Y tế nhiệm vụ gì?"). With an LLM the condensing prompt does this instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from index.normalize import match_form
from index.tokens import count_tokens

# "Còn X thì sao?", "Còn X?", "X thì sao?", "Thế còn X?", "Vậy X thì thế nào?", "What about X?"
_ELLIPTIC_RE = re.compile(
    r"^\s*(?:(?:thế|vậy|và)\s+)?(?:còn\s+)?(?P<x>.+?)\s*(?:thì\s+(?:sao|thế nào|như thế nào|ra sao)|ra sao|thì)?\s*\??\s*$",
    re.IGNORECASE,
)
_STARTS_CON_RE = re.compile(r"^\s*(?:(?:thế|vậy|và)\s+)?còn\s+", re.IGNORECASE)
_ENDS_SAO_RE = re.compile(r"thì\s+(?:sao|thế nào|như thế nào|ra sao)\s*\??\s*$", re.IGNORECASE)
_WHAT_ABOUT_RE = re.compile(r"^\s*(?:what|how)\s+about\s+(?P<x>.+?)\s*\??\s*$", re.IGNORECASE)
_PRONOUN_RE = re.compile(
    r"\b(ông ấy|bà ấy|người này|người đó|đề án này|đề án đó|văn bản này|văn bản đó|tỉnh này|tỉnh đó|việc này|việc đó|nó|họ)\b",
    re.IGNORECASE,
)


# Question words: a "Còn …" turn that holds one asks a whole new question.
_QUESTION_WORD_RE = re.compile(r"\b(?:ai|gì|nào|bao nhiêu|mấy|đâu|who|what|which|when)\b", re.I)
_DATE_RE = re.compile(r"\b(?:ngày\s+)?\d{1,2}[/-]\d{1,2}(?:[/-]\d{2,4})?\b", re.I)


def last_user_question(history: list[dict]) -> str | None:
    for turn in reversed(history or []):
        if turn.get("role") == "user" and str(turn.get("content", "")).strip():
            return str(turn["content"]).strip()
    return None


def is_followup(question: str) -> bool:
    q = question.strip()
    return bool(
        _STARTS_CON_RE.match(q)
        or _ENDS_SAO_RE.search(q)
        or _WHAT_ABOUT_RE.match(q)
        or _PRONOUN_RE.search(q)
    )


def _subject(question: str) -> str | None:
    m = _WHAT_ABOUT_RE.match(question)
    if m:
        return m.group("x").strip()
    m = _ELLIPTIC_RE.match(question)
    return m.group("x").strip(" ,.?") if m else None


def _replace_same_kind(previous: str, subject: str, known: Callable[[str], bool]) -> str | None:
    """Swap the entity in ``previous`` that starts with the subject's head word."""
    head = subject.split()[0]
    words = previous.rstrip(" ?").split()
    for i, w in enumerate(words):
        if match_form(w) != match_form(head):
            continue
        # Longest span from the head word that the corpus knows as a phrase (or the head + 1 word).
        best = i + 2 if i + 1 < len(words) else i + 1
        for j in range(min(len(words), i + 7), i + 1, -1):
            if known(" ".join(words[i:j])):
                best = j
                break
        return " ".join(words[:i] + subject.split() + words[best:]) + "?"
    return None


def rewrite_followup(
    question: str, history: list[dict], known: Callable[[str], bool] = lambda _: False
) -> str:
    """A standalone question for ``question`` given the earlier turns (deterministic)."""
    previous = last_user_question(history)
    if not previous or not is_followup(question):
        return question
    subject = _subject(question)
    if subject and _QUESTION_WORD_RE.search(subject):
        # "Còn thứ trưởng Bộ Công an phát biểu ở cuộc họp đó là ai?" is a whole question
        # about the same event: keep it, and carry the earlier question's context.
        return _with_context(subject, previous)
    if subject and (
        _STARTS_CON_RE.match(question)
        or _ENDS_SAO_RE.search(question)
        or _WHAT_ABOUT_RE.match(question)
    ):
        swapped = _replace_same_kind(previous, subject, known)
        if swapped:
            return swapped
        return f"{previous.rstrip(' ?')} — {subject}?"
    # A pronoun: keep the question, and carry the previous question's terms for retrieval.
    return _with_context(question, previous)


def _with_context(question: str, previous: str) -> str:
    """The question followed by the earlier one's words (its dates left out: they pin the
    earlier answer, and would be demanded of this one)."""
    context = " ".join(_DATE_RE.sub(" ", previous.rstrip(" ?")).split())
    return f"{question.rstrip(' ?')} ({context})?"


def trim_history(history: list[dict], budget_tokens: int) -> list[dict]:
    """The most recent turns whose total size fits the token budget (oldest dropped first)."""
    kept: list[dict] = []
    used = 0
    for turn in reversed(history or []):
        n = count_tokens(str(turn.get("content", ""))) + 4
        if used + n > budget_tokens:
            break
        kept.insert(0, turn)
        used += n
    return kept
