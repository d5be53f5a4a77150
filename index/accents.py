"""Restoring the diacritics of a question typed without them.

Each syllable of an accent-free question takes the accented form that its neighbours make
most likely, from two sources of syllable counts:

- the corpus being searched (``LexicalIndex``): its names and terms («hoa don dien tu» →
  «hóa đơn điện tử»);
- how questions are worded (``index/data/question_ngrams.json``): the question words that
  passages seldom use. Restored from passages alone, «bao nhieu» became «bảo nhiều», «nao»
  «não» in a medical corpus, «lau» «lau» instead of «lâu». The table is learned from
  Vietnamese QA questions (``python -m evals.question_prior``), keeping only syllables and
  pairs that questions of several domains share, so it holds the language of asking, not
  any domain's words.

Each source's counts become distributions over the accented forms of a syllable and of a
pair, mixed with the table's ``weight`` (chosen leaving one domain out; `evals/README.md`),
and the question is read as the likeliest sequence of accented syllables (``restore``).
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from index.errors import HoidapError
from index.normalize import fold

PRIOR_FILE = "question_ngrams.json"
PRIOR_ENV = "HOIDAP_QUESTION_PRIOR"
# Weight of how a folded pair was written against its syllables taken one by one.
PAIR_SHARE = 0.999


@dataclass
class SyllableCounts:
    """Accented forms per folded syllable and per folded syllable pair, with counts."""

    unigrams: dict[str, Counter] = field(default_factory=dict)
    bigrams: dict[tuple[str, str], Counter] = field(default_factory=dict)

    def add(self, accented: list[str], count: int = 1) -> None:
        """Count one run of accented, lower-case syllables: each syllable and each pair."""
        for i, word in enumerate(accented):
            self.add_syllable(word, count)
            if i:
                self.add_pair(accented[i - 1], word, count)

    def add_syllable(self, word: str, count: int) -> None:
        self.unigrams.setdefault(fold(word), Counter())[word] += count

    def add_pair(self, first: str, second: str, count: int) -> None:
        key = (fold(first), fold(second))
        self.bigrams.setdefault(key, Counter())[(first, second)] += count

    def to_json(self) -> dict:
        return {
            "unigrams": {f: dict(c) for f, c in sorted(self.unigrams.items())},
            "bigrams": {
                f"{a} {b}": {f"{x} {y}": n for (x, y), n in c.items()}
                for (a, b), c in sorted(self.bigrams.items())
            },
        }

    @classmethod
    def from_json(cls, data: dict) -> SyllableCounts:
        unigrams = {f: Counter(forms) for f, forms in data.get("unigrams", {}).items()}
        bigrams = {}
        for pair, forms in data.get("bigrams", {}).items():
            a, b = pair.split(" ")
            bigrams[(a, b)] = Counter({tuple(k.split(" ")): n for k, n in forms.items()})
        return cls(unigrams, bigrams)


@dataclass
class QuestionPrior:
    counts: SyllableCounts
    # Share of the question table where both sources know a syllable or pair (where only
    # one does, that one decides).
    weight: float


def question_prior() -> QuestionPrior | None:
    """The question table: ``HOIDAP_QUESTION_PRIOR`` names another one (a deployment whose
    users ask in another register, or a measurement leaving one domain out); else the
    shipped one, or None when it is missing (restore from the corpus alone)."""
    return _load_prior(os.environ.get(PRIOR_ENV, ""))


@lru_cache(maxsize=4)
def _load_prior(path: str) -> QuestionPrior | None:
    try:
        if path:
            text = Path(path).read_text(encoding="utf-8")
        else:
            text = resources.files("index").joinpath("data", PRIOR_FILE).read_text("utf-8")
    except (FileNotFoundError, OSError) as exc:
        if not path:
            return None
        raise HoidapError(
            f"{PRIOR_ENV}={path} cannot be read ({exc.strerror or exc}); point it at a table "
            "written by python -m evals.question_prior, or unset it.",
            f"Không đọc được {PRIOR_ENV}={path}; hãy chỉ tới bảng do "
            "python -m evals.question_prior tạo ra, hoặc bỏ biến này.",
            code="bad_question_prior",
        ) from None
    try:
        data = json.loads(text)
        return QuestionPrior(SyllableCounts.from_json(data), float(data.get("weight", 0.0)))
    except (ValueError, TypeError, AttributeError) as exc:
        raise HoidapError(
            f"The question table {path or PRIOR_FILE} is malformed ({exc}); rebuild it with "
            "python -m evals.question_prior.",
            f"Bảng câu hỏi {path or PRIOR_FILE} bị lỗi; hãy tạo lại bằng "
            "python -m evals.question_prior.",
            code="bad_question_prior",
        ) from None


def _distribution(votes: Counter) -> dict[str, float]:
    total = sum(votes.values())
    return {form: n / total for form, n in votes.items()} if total else {}


def _mix(corpus: Counter, prior: Counter, weight: float) -> dict:
    """The two sources' distributions mixed; a source with no votes leaves it to the other."""
    a, b = _distribution(corpus), _distribution(prior)
    if not a or not b:
        return a or b
    mixed = {form: p * (1.0 - weight) for form, p in a.items()}
    for form, p in b.items():
        mixed[form] = mixed.get(form, 0.0) + weight * p
    return mixed


def restore(words: list[str], corpus: SyllableCounts, prior: QuestionPrior | None) -> list[str]:
    """The accented guess for each of ``words`` (syllables typed without diacritics).

    The most likely sequence under a syllable-pair model (Viterbi): a pair of accented
    neighbours scores by how often the sources wrote that folded pair that way, backed off
    to each syllable's own most common forms (``PAIR_SHARE``). So «bao nhieu» is read as a
    whole: «bảo» may be the corpus' commonest «bao», but nobody writes «bảo nhiêu».
    A syllable neither source knows stays as typed."""
    if not words:
        return []
    folded = [fold(w) for w in words]
    weight = prior.weight if prior is not None else 0.0
    table = prior.counts if prior is not None else SyllableCounts()
    alone = [
        _mix(corpus.unigrams.get(f, Counter()), table.unigrams.get(f, Counter()), weight)
        or {word: 1.0}
        for f, word in zip(folded, words, strict=True)
    ]
    best = {form: math.log(p + 1e-12) for form, p in alone[0].items()}
    back: list[dict[str, str]] = []
    for i in range(1, len(words)):
        key = (folded[i - 1], folded[i])
        pairs = _mix(corpus.bigrams.get(key, Counter()), table.bigrams.get(key, Counter()), weight)
        scores, links = {}, {}
        for y, py in alone[i].items():
            options = []
            for x, score in best.items():
                edge = py * alone[i - 1][x]
                if pairs:
                    edge = PAIR_SHARE * pairs.get((x, y), 0.0) + (1 - PAIR_SHARE) * edge
                options.append((score + math.log(edge + 1e-12), x))
            scores[y], links[y] = max(options)
        best = scores
        back.append(links)
    form = max(best, key=best.__getitem__)
    out = [form]
    for links in reversed(back):
        form = links[form]
        out.append(form)
    return out[::-1]
