"""Learn how Vietnamese questions are worded, for restoring accent-free questions.

``python -m evals.question_prior --out index/data/question_ngrams.json`` counts the
syllables and syllable pairs of the questions of the benchmark collections in
``../shared/benchmarks`` and keeps those that questions of at least ``--min-domains``
collections use: «bao nhiêu», «thế nào», «là gì», «có thể», not one domain's terms. The
mixing weight is chosen leaving one collection out: for each collection, the table is
learned from the others' questions and its own questions are restored, accents stripped,
against a lexical index of its own contexts (the corpus the assistant would search);
``--measure`` prints that table. Only counts are written, never a question.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from evals.reader.data import COLLECTIONS, read_collection
from evals.reader.train import DEFAULT_ROOT
from index.accents import QuestionPrior, SyllableCounts
from index.errors import HoidapError
from index.lexical import LexicalIndex
from index.normalize import strip_marks, syllables

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def question_counts(questions_by_domain: dict[str, list[str]], min_domains: int) -> SyllableCounts:
    """Syllable and pair counts of the questions, kept where ``min_domains`` domains use them."""
    per_domain = {}
    for name, questions in questions_by_domain.items():
        counts = SyllableCounts()
        for q in questions:
            counts.add(syllables(q))
        per_domain[name] = counts
    merged = SyllableCounts()
    for table in ("unigrams", "bigrams"):
        keys: dict = {}
        for counts in per_domain.values():
            for key, forms in getattr(counts, table).items():
                for form, n in forms.items():
                    keys.setdefault((key, form), []).append(n)
        for (key, form), ns in keys.items():
            if len(ns) >= min_domains:
                getattr(merged, table).setdefault(key, Counter())[form] = sum(ns)
    return merged


def syllable_accuracy(
    lexical: LexicalIndex, questions: list[str], prior: QuestionPrior | None
) -> tuple[float, float]:
    """Share of syllables, and of whole questions, restored exactly."""
    right = total = whole = 0
    for q in questions:
        gold = syllables(q)
        guess = syllables(lexical.restore_diacritics(strip_marks(q), prior=prior))
        ok = sum(a == b for a, b in zip(gold, guess, strict=True)) if len(guess) == len(gold) else 0
        right, total, whole = right + ok, total + len(gold), whole + (ok == len(gold))
    return right / max(total, 1), whole / max(len(questions), 1)


def measure(root: Path) -> dict:
    """Leave one collection out: restoration accuracy per held-out collection and weight."""
    rows = {name: read_collection(root, name) for name in COLLECTIONS}
    table = {}
    for held in COLLECTIONS:
        others = {n: [r.question for r in rows[n]] for n in COLLECTIONS if n != held}
        counts = question_counts(others, min_domains=len(others))
        contexts = sorted({r.context for r in rows[held]})
        lexical = LexicalIndex([str(i) for i in range(len(contexts))], contexts)
        questions = [r.question for r in rows[held]]
        table[held] = {
            "corpus alone": [round(x, 4) for x in syllable_accuracy(lexical, questions, None)]
        }
        table[held] |= {
            str(w): [
                round(x, 4) for x in syllable_accuracy(lexical, questions, QuestionPrior(counts, w))
            ]
            for w in WEIGHTS
        }
        print(held, json.dumps(table[held]), flush=True)
    return table


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DEFAULT_ROOT), help="folder of the benchmark CSVs")
    p.add_argument("--out", help="write the table here (index/data/question_ngrams.json)")
    p.add_argument("--weight", type=float, default=None, help="mixing weight to write")
    p.add_argument("--min-domains", type=int, default=2)
    p.add_argument(
        "--collections",
        nargs="+",
        default=list(COLLECTIONS),
        choices=list(COLLECTIONS),
        help="questions to learn from (leave one out to measure on it: HOIDAP_QUESTION_PRIOR)",
    )
    p.add_argument("--measure", action="store_true", help="leave-one-collection-out table")
    args = p.parse_args(argv)
    try:
        _run(args)
    except HoidapError as exc:  # a missing data folder: a clear message, not a traceback
        raise SystemExit(f"error: {exc.message_en}") from None


def _run(args: argparse.Namespace) -> None:
    root = Path(args.data)
    if args.measure:
        measure(root)
    if args.out:
        if args.weight is None:
            raise SystemExit("error: --weight is required with --out (choose it with --measure)")
        questions = {n: [r.question for r in read_collection(root, n)] for n in args.collections}
        counts = question_counts(questions, args.min_domains)
        data = {
            "_about": (
                "Syllables and syllable pairs of Vietnamese questions that questions of at "
                f"least {args.min_domains} of the collections {', '.join(args.collections)} use, "
                "with their counts: how questions are worded, for restoring accent-free "
                "questions (index/accents.py). Rebuilt by python -m evals.question_prior."
            ),
            "weight": args.weight,
            **counts.to_json(),
        }
        Path(args.out).write_text(json.dumps(data, ensure_ascii=False, indent=0) + "\n")
        print(f"{args.out}: {len(counts.unigrams)} syllables, {len(counts.bigrams)} pairs")


if __name__ == "__main__":
    main()
