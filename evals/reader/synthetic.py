"""Synthetic training questions made from any Vietnamese text, no annotator needed.

Vietnamese asks in situ: the question keeps the statement's word order and puts the
question word where the answer was ("bị phạt tù 05 năm" -> "bị phạt tù bao nhiêu năm?",
"ban hành năm 2017" -> "ban hành năm nào?"). So a sentence holding one quantity, year or
date gives a well-formed question whose answer is that span, with the sentence as its
answer sentence. Only the clause around the answer is kept, so the question does not
copy the whole sentence, and only clauses with a single number are used, so the answer
is unambiguous inside them. A definition "X là Y" gives "X là gì?" with Y as the answer.

The rows go through ``data.build_examples`` like annotated ones (positive window, passage
negative, swapped-detail negative). Deterministic for a seed.
"""

from __future__ import annotations

import random
import re
from collections import Counter

from assistant.answering.reader.inputs import sentence_spans
from evals.reader.data import Row

_DATE_RE = re.compile(
    r"\bngày\s+\d{1,2}(?:\s*[/-]\s*\d{1,2}|\s+tháng\s+\d{1,2})(?:(?:\s*[/-]\s*|\s+năm\s+)\d{4})?"
)
_YEAR_RE = re.compile(r"\bnăm\s+(?:19|20)\d\d\b")
_PERCENT_RE = re.compile(r"(?<![\w.,/])\d+(?:[.,]\d+)?\s*%")
# A quantity: a number followed by the lower-case word it counts ("05 năm", "18 tuổi").
_QUANTITY_RE = re.compile(r"(?<![\w.,/])(\d+(?:[.,]\d+)*)\s+([a-zà-ỹđ]+)")
_NUMBER_RE = re.compile(r"\d")
_CLAUSE_SPLIT_RE = re.compile(r"[;:]|,\s+(?=(?:nhưng|trừ|nếu|thì|và|hoặc)\b)")
_LIST_MARK_RE = re.compile(r"^\s*(?:[-–•+*]|[a-zđA-ZĐ0-9]{1,2}[.)])\s+")
MAX_TAIL_WORDS = 10
MAX_WORDS = 28  # question length cap: the clause around the answer, not the whole sentence


def measure_words(contexts: list[str], min_count: int = 3, min_share: float = 0.1) -> set[str]:
    """Words that count things in these texts: often right after a number ("05 năm",
    "18 tuổi"), and a fair share of their uses there, which leaves out words that follow
    a number only by accident ("điều 8 của", "loại 1 nên")."""
    after: Counter = Counter()
    total: Counter = Counter()
    for text in contexts:
        total.update(re.findall(r"[a-zà-ỹđ]+", text))
        after.update(m.group(2) for m in _QUANTITY_RE.finditer(text))
    return {
        w for w, c in after.items() if w.islower() and c >= min_count and c / total[w] >= min_share
    }


def _candidates(sentence: str, measures: set[str]) -> list[tuple[int, int, str]]:
    """(start, end, question phrase) for each answer span of ``sentence``."""
    out: list[tuple[int, int, str]] = []
    taken: list[tuple[int, int]] = []

    def add(s: int, e: int, phrase: str) -> None:
        if all(e <= a or b <= s for a, b in taken):
            taken.append((s, e))
            out.append((s, e, phrase))

    for m in _DATE_RE.finditer(sentence):
        add(m.start(), m.end(), "ngày nào")
    for m in _YEAR_RE.finditer(sentence):
        add(m.start(), m.end(), "năm nào")
    for m in _PERCENT_RE.finditer(sentence):
        add(m.start(), m.end(), "bao nhiêu phần trăm")
    for m in _QUANTITY_RE.finditer(sentence):
        before = sentence[: m.start()].rstrip().split()
        if m.group(2) not in measures or (before and before[-1][:1].isupper()):
            continue  # "Điều 12 khoản", "Nghị định 15 năm": an identifier, not a quantity
        add(m.start(), m.end(), f"bao nhiêu {m.group(2)}")
    return out


def _clause(sentence: str, s: int, e: int) -> tuple[str, int, int] | None:
    """The clause of ``sentence`` holding [s, e), as (text, s, e) relative to it."""
    start, end = 0, len(sentence)
    for m in _CLAUSE_SPLIT_RE.finditer(sentence):
        if m.end() <= s:
            start = m.end()
        elif m.start() >= e:
            end = m.start()
            break
    clause = sentence[start:end]
    lead = len(clause) - len(clause.lstrip())
    clause = clause.strip().rstrip(".!?,")
    s, e = s - start - lead, e - start - lead
    if s < 0 or e > len(clause):
        return None
    words_before = clause[:s].split()
    if len(words_before) > MAX_WORDS - 4:
        cut = clause[:s].rfind(" " + " ".join(words_before[-(MAX_WORDS - 4) :])) + 1
        clause, s, e = clause[cut:], s - cut, e - cut
    comma = clause.find(",", e)
    if comma >= 0 and len(clause[e:comma].split()) >= 1:
        clause = clause[:comma]  # the rest of the sentence is another clause
    elif len(clause[e:].split()) > MAX_TAIL_WORDS:
        return None  # no clean place to end the question
    return clause, s, e


# "X là Y" / "X gồm Y": the in-situ question of the predicate is "X là gì?" / "X gồm những gì?"
_DEFINITION_RE = re.compile(r"^([^,;:()?!\d]{8,80}?)\s+(là|gồm|bao gồm)\s+(\S.{9,})$")
_DEFINITION_WORD = {"là": "là gì", "gồm": "gồm những gì", "bao gồm": "bao gồm những gì"}
_HEDGE_RE = re.compile(r"\b(?:là|có thể|được|sẽ|chỉ|gọi|đó|này|nó)\b", re.IGNORECASE)


def definition_question(sentence: str) -> tuple[str, str] | None:
    """("X là gì?", answer Y) for a sentence "X là Y" whose subject X is a noun phrase of at
    least three words (a bare "Sau đó là …" or a hedged "… có thể là …" is no definition)."""
    m = _DEFINITION_RE.match(_LIST_MARK_RE.sub("", sentence.strip()))
    if m is None:
        return None
    subject = m.group(1).strip()
    if len(subject.split()) < 3 or _HEDGE_RE.search(subject):
        return None
    answer = m.group(3).rstrip(" .;")
    return f"{subject} {_DEFINITION_WORD[m.group(2)]}?", answer


def questions_from(
    context: str, measures: set[str], rng: random.Random, per_context: int = 2
) -> list[Row]:
    """Up to ``per_context`` in-situ questions from one context (answer spans unique in it)."""
    rows: list[Row] = []
    options = []
    for a, b in sentence_spans(context):
        sentence = context[a:b]
        for s, e, phrase in _candidates(sentence, measures):
            options.append((sentence, s, e, phrase))
        made = definition_question(sentence)
        if made is not None:
            options.append((sentence, -1, -1, made))
    rng.shuffle(options)
    for sentence, s, e, phrase in options:
        if len(rows) >= per_context:
            break
        if s < 0:
            question, answer = phrase
            if context.count(answer) == 1:
                rows.append(Row(question[0].upper() + question[1:], answer, context, True))
            continue
        answer = sentence[s:e]
        if context.count(answer) != 1:
            continue
        cut = _clause(sentence, s, e)
        if cut is None:
            continue
        clause, cs, ce = cut
        if _NUMBER_RE.search(clause[:cs] + clause[ce:]) or len(clause[:cs].split()) < 3:
            continue
        question = f"{clause[:cs]}{phrase}{clause[ce:]}".strip()
        question = _LIST_MARK_RE.sub("", question).strip(" ,")
        question = question[0].upper() + question[1:] + "?"
        rows.append(Row(question, answer, context, True))
    return rows


def synthetic_rows(contexts: list[str], seed: int, limit: int, per_context: int = 2) -> list[Row]:
    """In-situ questions from the distinct ``contexts``, at most ``limit`` in all."""
    rng = random.Random(f"{seed}:synthetic")
    rows: list[Row] = []
    distinct = sorted(set(contexts))
    measures = measure_words(distinct)
    for context in distinct:
        rows.extend(questions_from(context, measures, rng, per_context))
    rng.shuffle(rows)
    return rows[:limit]
