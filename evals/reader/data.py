"""Training examples for the reader, built from public QA collections with answers in context.

Each collection (``../shared/benchmarks``: ViMedAQA_v2 medical, ALQAC legal, ViRHE4QA_v2
university regulations) gives (question, answer, context). From each question we make:

- a positive: the question with a window of its context around the answer sentence,
  labelled per sentence (the sentence holding the answer span, or for abstractive answers
  the sentence with the best token F1 to it);
- a passage negative: the question with a window that lacks the answer, from its own
  context or from the most similar other context of the collection (a near retrieval miss);
- a question negative (UIT-ViQuAD 2.0 style, made programmatically by ``Perturber``): a
  number, abbreviation, name or phrase modifier of the question changed for one the
  context does not contain, the question kept well formed, paired with the answer window.

Everything is deterministic given the seed.
"""

from __future__ import annotations

import csv
import math
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from assistant.answering.reader.inputs import WINDOW_CHARS, sentence_spans
from evals.reader.open_sets import OPEN_COLLECTIONS, read_open_collection
from index.errors import HoidapError
from index.normalize import fold, match_form

# Evaluation-only collections: their terms do not allow shipping a model trained on them.
COLLECTIONS = {
    "vimedaqa": "vimedaqa_v2.csv",
    "alqac": "alqac.csv",
    "virhe4qa": "virhe4qa_v2.csv",
}
# What the shipped reader trains on (open licences, ``evals.reader.open_sets``).
TRAINING_COLLECTIONS = tuple(OPEN_COLLECTIONS)
ALL_COLLECTIONS = (*TRAINING_COLLECTIONS, *COLLECTIONS)
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
    impossible: bool = False  # an adversarial unanswerable question about this context
    group: str = ""  # paragraph id: a validation split keeps a paragraph's questions together


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
    """Rows of one collection: an open SQuAD-v2 set, or a benchmark CSV (answers: the
    extractive column where there is one)."""
    if name in OPEN_COLLECTIONS:
        return read_open_collection(root, name, Row)
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


_ABBREV_RE = re.compile(r"\b[A-ZĐ][A-ZĐ0-9&]{1,9}\b")
_CAP = "A-ZĐÂĂÊÔƠƯÁÀẢÃẠÉÈẺẼẸÍÌỈĨỊÓÒỎÕỌÚÙỦŨỤÝỲỶỸỴẤẦẨẪẬẮẰẲẴẶẾỀỂỄỆỐỒỔỖỘỚỜỞỠỢỨỪỬỮỰ"
_CAP_WORD_RE = re.compile(rf"(?<![\w])[{_CAP}][a-zà-ỹ]+(?:\s+[{_CAP}][a-zà-ỹ]+)*")
_YEAR_RE = re.compile(r"^(?:19|20)\d\d$")
COLLOCATION = 0.2  # a pair is a word when it makes up this share of its rarer syllable's uses


def _is_vietnamese_syllable(word: str) -> bool:
    from assistant.answering.query import _VI_SYLLABLE_RE

    return bool(_VI_SYLLABLE_RE.fullmatch(fold(word)))


def _names(text: str) -> list[str]:
    """One-word proper names that are not Vietnamese syllables ("Adrenaline", "Insulin").

    Vietnamese names capitalise each syllable of only some words ("Phòng Thanh tra"), so a
    capitalised run is often part of a name; swapping one would garble the question.
    """
    out = []
    for m in _CAP_WORD_RE.finditer(text):
        before = text[: m.start()].rstrip()
        if not before or before[-1] in ".?!:;\n-–(\"'":
            continue
        word = m.group(0)
        if " " not in word and len(word) >= 4 and not _is_vietnamese_syllable(word):
            out.append(word)
    return out


def _nearby_numbers(number: str, rng: random.Random) -> list[str]:
    """Numbers of the same shape close to ``number`` (a year moves by a few years, a count
    by a small step or a factor), zero padding and thousands separators kept."""
    head = re.match(r"\d+", number).group(0)
    value = int(head)
    if _YEAR_RE.match(head):
        values = [value + d for d in (-3, -2, -1, 1, 2, 3)]
    else:
        values = [value + 1, value + 2, value * 2, value * 3, value - 1, value + 5]
    values = [v for v in values if v > 0 and v != value]
    rng.shuffle(values)
    return [str(v).zfill(len(head)) + number[len(head) :] for v in values]


class Perturber:
    """Makes a near-miss question the context cannot answer, as UIT-ViQuAD 2.0's annotators
    did by hand: one detail changed so that the question stays well formed.

    - ``number``: a number or year moved to a close value the context lacks;
    - ``abbreviation`` / ``name``: an abbreviation or proper name swapped for another of
      the same kind from the collection's questions and contexts;
    - ``phrase``: the second syllable of a two-syllable word swapped for another that the
      collection uses after the same first syllable ("di vật" -> "di chúc"), the new word
      absent from the context. Words are syllable pairs that mostly occur together
      (``COLLOCATION``), so no swap cuts across two words; content words are those rarer
      than the median word of the collection, so function words are left alone.
    """

    def __init__(self, rows: list[Row], rng: random.Random):
        self.rng = rng
        texts = sorted({r.question for r in rows} | {r.context for r in rows})
        self.abbreviations = sorted({a for t in texts for a in _ABBREV_RE.findall(t)})
        self.names = sorted({n for t in texts for n in _names(t)})
        df: Counter = Counter()
        bigrams: Counter = Counter()
        for t in texts:
            syl = _syllables(t)
            df.update(set(syl))
            bigrams.update(zip(syl, syl[1:], strict=False))
        counts = sorted(df.values())
        cutoff = counts[len(counts) // 2] if counts else 0
        common = max(2, len(texts) // 20)  # in over 5 % of the texts: a function word
        self.content = {w for w, c in df.items() if c <= max(cutoff, common) and not w.isdigit()}
        tokens: Counter = Counter()
        for t in texts:
            tokens.update(_syllables(t))
        self.bond = {pair: c / max(tokens[pair[0]], tokens[pair[1]]) for pair, c in bigrams.items()}
        self.words = {
            (h, m)
            for (h, m), c in bigrams.items()
            if c >= 2 and h in self.content and m in self.content and self.bond[h, m] >= COLLOCATION
        }
        self.modifiers: dict[str, list[str]] = {}
        for h, m in sorted(self.words):
            self.modifiers.setdefault(h, []).append(m)

    def perturb(self, question: str, context: str) -> tuple[str, str] | None:
        """(new question, how) or None when no detail can be changed safely."""
        ctx = fold(match_form(context))
        options: list[tuple[str, str]] = []
        options += [("number", n) for n in _NUM_RE.findall(question)]
        options += [("abbreviation", a) for a in _ABBREV_RE.findall(question)]
        options += [("name", n) for n in _names(question)]
        syl = _syllables(question)
        options += [
            ("phrase", f"{syl[i]} {syl[i + 1]}")
            for i in range(len(syl) - 1)
            if self._word_at(syl, i) and len(self.modifiers.get(syl[i], [])) > 1
        ]
        self.rng.shuffle(options)
        for kind, old in options:
            made = self._swap(question, kind, old, ctx)
            if made is not None:
                return made, kind
        return None

    def _word_at(self, syl: list[str], i: int) -> bool:
        """Syllables i, i+1 form a word here: a known pair bound tighter than either
        neighbouring pair ("tập trung | huấn luyện", not "trung huấn")."""
        pair = (syl[i], syl[i + 1])
        if pair not in self.words:
            return False
        bond = self.bond[pair]
        left = self.bond.get((syl[i - 1], syl[i]), 0.0) if i > 0 else 0.0
        right = self.bond.get((syl[i + 1], syl[i + 2]), 0.0) if i + 2 < len(syl) else 0.0
        return bond > left and bond > right

    def _absent(self, text: str, ctx: str) -> bool:
        return re.search(rf"(?<!\w){re.escape(fold(match_form(text)))}(?!\w)", ctx) is None

    def _swap(self, question: str, kind: str, old: str, ctx: str) -> str | None:
        if kind == "number":
            pool = _nearby_numbers(old, self.rng)
        elif kind == "abbreviation":
            pool = self.rng.sample(self.abbreviations, min(8, len(self.abbreviations)))
        elif kind == "name":
            pool = self.rng.sample(self.names, min(8, len(self.names)))
        else:
            head, mod = old.split()
            choices = [m for m in self.modifiers[head] if m != mod]
            pool = [f"{head} {m}" for m in self.rng.sample(choices, min(8, len(choices)))]
        pattern = r"\s+".join(re.escape(w) for w in old.split())
        found = re.search(rf"(?<![\w.,]){pattern}(?![\w])", question, re.IGNORECASE)
        if found is None:
            return None
        for new in pool:
            if fold(match_form(new)) == fold(match_form(old)) or not self._absent(new, ctx):
                continue
            if kind == "phrase" and question[found.start()].isupper():
                new = new[0].upper() + new[1:]
            return question[: found.start()] + new + question[found.end() :]
        return None


def _similar_context(row: Row, others: list[Row], rng: random.Random) -> Row | None:
    """Among a sample of other contexts, the one sharing the most question syllables."""
    q = set(_syllables(row.question))
    sample = rng.sample(others, min(40, len(others)))
    best = max(sample, key=lambda r: len(q & set(_syllables(r.context[:1500]))), default=None)
    if best is None or match_form(row.answer) in match_form(best.context):
        return None
    return best


class OverlapIndex:
    """IDF-weighted syllable overlap with a question, over one collection's contexts: the
    context and the sentence a lexical retriever would hand over for it. Hard negatives
    are what the reader meets in use: a passage that echoes the question's words but does
    not hold the answer (the wrong answers of the earlier answerer were mostly these)."""

    def __init__(self, contexts: list[str]):
        self.contexts = list(dict.fromkeys(contexts))
        self.sets = [set(_syllables(c)) for c in self.contexts]
        df = Counter(t for terms in self.sets for t in terms)
        n = len(self.sets)
        self.idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}

    def overlap(self, question: set[str], terms: set[str]) -> float:
        return sum(self.idf.get(t, 0.0) for t in question & terms)

    def best_other(self, question: str, context: str, answer: str) -> str | None:
        """The context sharing the most (IDF-weighted) question syllables, other than
        ``context`` and any that contains ``answer``."""
        q = set(_syllables(question))
        ranked = sorted(range(len(self.contexts)), key=lambda i: -self.overlap(q, self.sets[i]))
        gold = match_form(answer)
        for i in ranked[:5]:
            other = self.contexts[i]
            if other != context and gold not in match_form(other):
                return other
        return None

    def best_sentence(self, question: str, text: str, spans, allowed: list[int]) -> int | None:
        q = set(_syllables(question))
        scored = [
            (self.overlap(q, set(_syllables(text[spans[k][0] : spans[k][1]]))), k) for k in allowed
        ]
        return max(scored)[1] if scored else None


def build_examples(
    rows: list[Row], collection: str, seed: int, hard: bool = False
) -> list[Example]:
    """Positives, passage negatives and question negatives for one collection.

    ``hard``: the passage negatives are the ones a retriever would hand over, both of them:
    the window of the question's own context around its most question-like sentence
    without the answer, and the window of the most question-like other context around its
    most question-like sentence (``OverlapIndex``); otherwise one negative, a random window
    of its own context or of a similar context from a sample (the shipped recipe).

    A collection with real adversarial unanswerable questions (SQuAD 2.0's) gives each of
    them as a question negative with the window its paragraph offers it, and gets no
    programmatic swaps: the annotators' questions are the better negatives."""
    rng = random.Random(f"{seed}:{collection}")
    answerable = [r for r in rows if not r.impossible]
    perturber = None if len(answerable) < len(rows) else Perturber(rows, rng)
    overlap = OverlapIndex([r.context for r in answerable]) if hard else None
    out: list[Example] = []
    for row in rows:
        qid = {"qid": f"{collection}:{row.group or len(out)}", "answer": row.answer}
        if row.impossible:
            out.extend(_adversarial_example(row, collection, qid, rng))
            continue
        out.extend(_question_examples(row, answerable, collection, qid, rng, overlap, perturber))
    return out


def _question_examples(row, rows, collection, qid, rng, overlap, perturber) -> list[Example]:
    """The positive window of one answerable question, its passage negatives and, where the
    ``perturber`` finds a detail to swap, its question negative."""
    spans, hits, span = answer_sentences(row.context, row)
    if not hits:
        return []
    i, j = _window(spans, hits, rng)
    passage, offset = _cut(row.context, spans, i, j)
    labels = _labels_for(passage, offset, [spans[h] for h in hits])
    if not any(labels):
        return []
    local_span = (span[0] - offset, span[1] - offset) if span else None
    out = [Example(row.question, passage, labels, local_span, "positive", collection, qid)]
    rest = [k for k in range(len(spans)) if k not in range(i, j) and k not in hits]
    negatives = (
        _hard_negatives(row, spans, hits, rest, overlap, rng)
        if overlap is not None
        else _passage_negative(row, rows, spans, hits, rest, rng)
    )
    for neg in negatives:
        zeros = [0] * len(sentence_spans(neg))
        out.append(Example(row.question, neg, zeros, None, "passage_negative", collection, qid))
    swapped = perturber.perturb(row.question, row.context) if perturber else None
    if swapped is not None:
        q2, how = swapped
        meta = {**qid, "swap": how}
        out.append(
            Example(q2, passage, [0] * len(labels), None, "question_negative", collection, meta)
        )
    return out


def _adversarial_example(row: Row, collection: str, qid: dict, rng) -> list[Example]:
    """An annotator's unanswerable question with the window of its paragraph around the
    sentence that shares most of its words (where it looks answerable)."""
    spans = sentence_spans(row.context)
    if not spans:
        return []
    words = set(_syllables(row.question))
    overlap = [len(words & set(_syllables(row.context[a:b]))) for a, b in spans]
    i, j = _window(spans, [max(range(len(spans)), key=overlap.__getitem__)], rng)
    passage, _ = _cut(row.context, spans, i, j)
    labels = [0] * len(sentence_spans(passage))
    meta = {**qid, "adversarial": True}
    return [Example(row.question, passage, labels, None, "question_negative", collection, meta)]


def _passage_negative(row: Row, rows: list[Row], spans, hits, rest, rng) -> list[str]:
    """Another window of the same context, else a window of a similar context."""
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
    return [neg] if neg is not None else []


def _hard_negatives(row: Row, spans, hits, rest, overlap: OverlapIndex, rng) -> list[str]:
    """The most question-like window of the own context without the answer, and of the
    most question-like other context."""
    out = []
    k = overlap.best_sentence(row.question, row.context, spans, rest)
    if k is not None:
        a, b = _window(spans, [k], rng)
        if not any(h in range(a, b) for h in hits):
            out.append(_cut(row.context, spans, a, b)[0])
    other = overlap.best_other(row.question, row.context, row.answer)
    if other is not None:
        ospans = sentence_spans(other)
        k = overlap.best_sentence(row.question, other, ospans, list(range(len(ospans))))
        if k is not None:
            a, b = _window(ospans, [k], rng)
            out.append(_cut(other, ospans, a, b)[0])
    return out


def load_examples(
    root: Path, collections: list[str], seed: int, hard: bool = False
) -> list[Example]:
    examples: list[Example] = []
    for name in collections:
        examples.extend(build_examples(read_collection(root, name), name, seed, hard))
    return examples
