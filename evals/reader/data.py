"""Training examples for the reader, built from public QA collections with answers in context.

Each collection (``../shared/benchmarks``: ViMedAQA_v2 medical, ALQAC legal, ViRHE4QA_v2
university regulations) gives (question, answer, context). From each question we make:

- a positive: the question with a window of its context around the answer sentence,
  labelled per sentence (the sentence holding the answer span, or for abstractive answers
  the sentence with the best token F1 to it);
- a passage negative: the question with a window that lacks the answer, from its own
  context or from the most similar other context of the collection (a near retrieval miss);
- a question negative (UIT-ViQuAD 2.0 style, made programmatically): a number, name or
  key phrase of the question swapped for one from another question of the same
  collection that the context does not contain, paired with the answer window.

Everything is deterministic given the seed.
"""

from __future__ import annotations

import csv
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from assistant.reader.inputs import sentence_spans
from index.errors import HoidapError
from index.normalize import fold, match_form

COLLECTIONS = {
    "vimedaqa": "vimedaqa_v2.csv",
    "alqac": "alqac.csv",
    "virhe4qa": "virhe4qa_v2.csv",
}
WINDOW_CHARS = 520  # about 130-160 tokens of passage, so a pair fits MAX_LENGTH
_NUM_RE = re.compile(r"\d+(?:[.,/]\d+)*")
_NAME_RE = re.compile(
    r"(?<!^)(?:[A-ZĐÂĂÊÔƠƯÁÀẢÃẠÉÈẺẼẸÍÌỈĨỊÓÒỎÕỌÚÙỦŨỤÝỲỶỸỴẤẦẨẪẬẮẰẲẴẶẾỀỂỄỆỐỒỔỖỘỚỜỞỠỢỨỪỬỮỰ][\wÀ-ỹ&]*)(?:\s+[A-ZĐÂĂÊÔƠƯÁÀẢÃẠÉÈẺẼẸÍÌỈĨỊÓÒỎÕỌÚÙỦŨỤÝỲỶỸỴẤẦẨẪẬẮẰẲẴẶẾỀỂỄỆỐỒỔỖỘỚỜỞỠỢỨỪỬỮỰ][\wÀ-ỹ&]*)*"
)


@dataclass
class Row:
    question: str
    answer: str
    context: str
    extractive: bool  # the answer is a span of the context


@dataclass
class Example:
    question: str
    passage: str
    labels: list[int]  # per sentence of the passage (sentence_spans order)
    span: tuple[int, int] | None = None  # answer characters inside ``passage``
    kind: str = "positive"
    collection: str = ""
    meta: dict = field(default_factory=dict)


def read_collection(root: Path, name: str) -> list[Row]:
    """Rows of one benchmark CSV (answers: the extractive column where there is one)."""
    path = root / COLLECTIONS[name]
    if not path.is_file():
        raise HoidapError(
            f"Training collection {path} is missing; pass --data with the folder holding "
            f"{', '.join(COLLECTIONS.values())} (../shared/benchmarks in this project).",
            f"Không tìm thấy tệp dữ liệu huấn luyện {path}; hãy chỉ thư mục bằng --data.",
            code="training_data_missing",
        )
    rows = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for r in csv.DictReader(fh):
            answer = (r.get("extractive answer") or r.get("answer") or "").strip()
            context = r["context"].replace("\r", "")
            if not answer or not r["question"].strip():
                continue
            rows.append(Row(r["question"].strip(), answer, context, answer in context))
    return rows


def _syllables(text: str) -> list[str]:
    return re.findall(r"\w+", match_form(text))


def _f1(a: list[str], b: list[str]) -> float:
    common = sum((Counter(a) & Counter(b)).values())
    if not common:
        return 0.0
    p, r = common / len(a), common / len(b)
    return 2 * p * r / (p + r)


def answer_sentences(
    context: str, row: Row
) -> tuple[list[tuple[int, int]], list[int], tuple[int, int] | None]:
    """Sentence spans of the context, indices of the answer sentences, the answer span."""
    spans = sentence_spans(context)
    if row.extractive:
        s = context.find(row.answer)
        e = s + len(row.answer)
        hits = [i for i, (a, b) in enumerate(spans) if a < e and s < b]
        return spans, hits, (s, e)
    gold = _syllables(row.answer)
    scores = [_f1(_syllables(context[a:b]), gold) for a, b in spans]
    if not scores or max(scores) < 0.4:
        return spans, [], None
    return spans, [max(range(len(scores)), key=scores.__getitem__)], None


def _window(spans: list[tuple[int, int]], center: list[int], rng: random.Random) -> tuple[int, int]:
    """Sentence index range [i, j) around ``center`` that fits WINDOW_CHARS (random offset)."""
    i, j = min(center), max(center) + 1
    while True:
        grew = False
        options = []
        if i > 0 and spans[j - 1][1] - spans[i - 1][0] <= WINDOW_CHARS:
            options.append("left")
        if j < len(spans) and spans[j][1] - spans[i][0] <= WINDOW_CHARS:
            options.append("right")
        if options:
            side = rng.choice(options)
            i, j = (i - 1, j) if side == "left" else (i, j + 1)
            grew = True
        if not grew:
            return i, j


def _cut(context: str, spans: list[tuple[int, int]], i: int, j: int) -> tuple[str, int]:
    start, end = spans[i][0], spans[j - 1][1]
    return context[start:end], start


def _labels_for(passage: str, offset: int, hits_abs: list[tuple[int, int]]) -> list[int]:
    spans = sentence_spans(passage)
    return [int(any(a + offset < e and s < b + offset for s, e in hits_abs)) for a, b in spans]


class Perturber:
    """Swaps a detail of a question for one from another question of the same collection."""

    def __init__(self, rows: list[Row], rng: random.Random):
        self.rng = rng
        self.numbers = sorted({n for r in rows for n in _NUM_RE.findall(r.question)})
        self.names = sorted({m.group(0) for r in rows for m in _NAME_RE.finditer(r.question)})
        bigrams: Counter = Counter()
        for r in rows:
            s = _syllables(r.question)
            bigrams.update(" ".join(p) for p in zip(s, s[1:], strict=False))
        self.phrases = sorted(b for b, c in bigrams.items() if 2 <= c <= 30)

    def perturb(self, question: str, context: str) -> tuple[str, str] | None:
        ctx = match_form(context)
        ctx_folded = fold(ctx)
        options = []
        for n in _NUM_RE.findall(question):
            options.append(("number", n, self.numbers))
        for m in _NAME_RE.finditer(question):
            options.append(("name", m.group(0), self.names))
        syl = _syllables(question)
        in_ctx = [" ".join(p) for p in zip(syl, syl[1:], strict=False) if " ".join(p) in ctx]
        for b in in_ctx:
            options.append(("phrase", b, self.phrases))
        self.rng.shuffle(options)
        for kind, old, pool in options:
            for _ in range(8):
                if not pool:
                    break
                new = self.rng.choice(pool)
                if fold(match_form(new)) in ctx_folded or match_form(new) == match_form(old):
                    continue
                if kind == "phrase":
                    # Case kept: a lower-cased question must not give the negative away.
                    words = old.split()
                    pattern = r"\s+".join(re.escape(w) for w in words)
                    m = re.search(pattern, question, re.IGNORECASE)
                    if not m:
                        break
                    if question[m.start()].isupper():
                        new = new[0].upper() + new[1:]
                    return question[: m.start()] + new + question[m.end() :], kind
                return question.replace(old, new, 1), kind
        return None


def _similar_context(row: Row, others: list[Row], rng: random.Random) -> Row | None:
    """Among a sample of other contexts, the one sharing the most question syllables."""
    q = set(_syllables(row.question))
    sample = rng.sample(others, min(40, len(others)))
    best = max(sample, key=lambda r: len(q & set(_syllables(r.context[:1500]))), default=None)
    if best is None or match_form(row.answer) in match_form(best.context):
        return None
    return best


def build_examples(rows: list[Row], collection: str, seed: int) -> list[Example]:
    """Positives, passage negatives and question negatives for one collection."""
    rng = random.Random(f"{seed}:{collection}")
    perturber = Perturber(rows, rng)
    out: list[Example] = []
    for row in rows:
        spans, hits, span = answer_sentences(row.context, row)
        if not hits:
            continue
        i, j = _window(spans, hits, rng)
        passage, offset = _cut(row.context, spans, i, j)
        hit_abs = [spans[h] for h in hits]
        labels = _labels_for(passage, offset, hit_abs)
        if not any(labels):
            continue
        local_span = (span[0] - offset, span[1] - offset) if span else None
        qid = {"qid": f"{collection}:{len(out)}", "answer": row.answer}
        out.append(
            Example(row.question, passage, labels, local_span, "positive", collection, dict(qid))
        )
        # Passage negative: another window of the same context, else a similar context.
        rest = [k for k in range(len(spans)) if k not in range(i, j) and k not in hits]
        neg = None
        if rest and rng.random() < 0.5:
            a, b = _window(spans, [rng.choice(rest)], rng)
            if not any(h in range(a, b) for h in hits):
                neg, _ = _cut(row.context, spans, a, b)
        if neg is None:
            other = _similar_context(row, [r for r in rows if r.context != row.context], rng)
            if other is not None:
                ospans = sentence_spans(other.context)
                if ospans:
                    a, b = _window(ospans, [rng.randrange(len(ospans))], rng)
                    neg, _ = _cut(other.context, ospans, a, b)
        if neg is not None:
            out.append(
                Example(
                    row.question,
                    neg,
                    [0] * len(sentence_spans(neg)),
                    None,
                    "passage_negative",
                    collection,
                    dict(qid),
                )
            )
        swapped = perturber.perturb(row.question, row.context)
        if swapped is not None:
            q2, how = swapped
            out.append(
                Example(
                    q2,
                    passage,
                    [0] * len(labels),
                    None,
                    "question_negative",
                    collection,
                    {**qid, "swap": how},
                )
            )
    return out


def load_examples(root: Path, collections: list[str], seed: int) -> list[Example]:
    examples: list[Example] = []
    for name in collections:
        examples.extend(build_examples(read_collection(root, name), name, seed))
    return examples
