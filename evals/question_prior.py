"""Learn how Vietnamese questions are worded, for restoring accent-free questions.

``python -m evals.question_prior --out index/data/question_ngrams.json`` counts the
syllables and syllable pairs of the questions of the benchmark collections in
``../shared/benchmarks`` and keeps those that questions of at least ``--min-domains``
collections use: «bao nhiêu», «thế nào», «là gì», «có thể», not one domain's terms. The
table that ships is learned from the open-licence collections' Vietnamese questions only.
The mixing weight is chosen leaving one open collection out: the table is learned from the
others' questions and the held-out questions are restored, accents stripped, against a
lexical index of their own contexts (the corpus the assistant would search). ``--measure``
prints that table, then the same for the evaluation-only collections (medical, legal,
regulations) with the table of every open collection: figures, not choices. Only counts
are written, never a question.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from evals.reader.data import ALL_COLLECTIONS, COLLECTIONS, TRAINING_COLLECTIONS, read_collection
from evals.reader.open_sets import OPEN_DOMAINS
from evals.reader.train import DEFAULT_ROOT
from index.accents import QuestionPrior, SyllableCounts
from index.errors import HoidapError
from index.lexical import LexicalIndex
from index.normalize import has_diacritics, strip_marks, syllables

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def question_counts(
    questions_by_domain: dict[str, list[str]], min_domains: int, min_count: int = 1
) -> SyllableCounts:
    """Syllable and pair counts of the questions, kept where ``min_domains`` domains use them
    at least ``min_count`` times in all (a one-off topic word is no way of asking)."""
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
            if len(ns) >= min_domains and sum(ns) >= min_count:
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


def vietnamese_questions(root: Path, name: str) -> list[str]:
    """The collection's questions written in Vietnamese (XQuAD's English ones left out)."""
    return [r.question for r in read_collection(root, name) if has_diacritics(r.question)]


def questions_by_domain(root: Path, names: list[str]) -> dict[str, list[str]]:
    """Vietnamese questions of ``names`` grouped by domain of text (``OPEN_DOMAINS``; any
    other collection is a domain of its own)."""
    domain_of = {c: d for d, cs in OPEN_DOMAINS.items() for c in cs}
    grouped: dict[str, list[str]] = {}
    for name in names:
        grouped.setdefault(domain_of.get(name, name), []).extend(vietnamese_questions(root, name))
    return grouped


def restoration_row(root: Path, held: list[str], counts: SyllableCounts) -> dict:
    """Restoration of the ``held`` collections' questions against their own contexts, per
    mixing weight."""
    contexts = sorted({r.context for name in held for r in read_collection(root, name)})
    lexical = LexicalIndex([str(i) for i in range(len(contexts))], contexts)
    questions = [q for name in held for q in vietnamese_questions(root, name)]
    row = {"corpus alone": [round(x, 4) for x in syllable_accuracy(lexical, questions, None)]}
    for w in WEIGHTS:
        accuracy = syllable_accuracy(lexical, questions, QuestionPrior(counts, w))
        row[str(w)] = [round(x, 4) for x in accuracy]
    return row


def measure(root: Path, min_domains: int, min_count: int) -> dict:
    """Leave one open domain out (where the weight is chosen), then the evaluation-only
    collections with the table of every open domain."""
    questions = questions_by_domain(root, list(TRAINING_COLLECTIONS))
    table = {}
    for held, names in OPEN_DOMAINS.items():
        others = {d: qs for d, qs in questions.items() if d != held}
        counts = question_counts(others, min(min_domains, len(others)), min_count)
        table[held] = restoration_row(root, list(names), counts)
        print(held, json.dumps(table[held]), flush=True)
    counts = question_counts(questions, min_domains, min_count)
    for held in COLLECTIONS:
        table[held] = restoration_row(root, [held], counts)
        print(held, "(evaluation only)", json.dumps(table[held]), flush=True)
    return table


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DEFAULT_ROOT), help="folder of the benchmark CSVs")
    p.add_argument("--out", help="write the table here (index/data/question_ngrams.json)")
    p.add_argument("--weight", type=float, default=None, help="mixing weight to write")
    p.add_argument("--min-domains", type=int, default=1)
    p.add_argument("--min-count", type=int, default=3)
    p.add_argument(
        "--collections",
        nargs="+",
        default=list(TRAINING_COLLECTIONS),
        choices=list(ALL_COLLECTIONS),
        help="questions to learn from (the open-licence sets by default)",
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
        measure(root, args.min_domains, args.min_count)
    if args.out:
        if args.weight is None:
            raise SystemExit("error: --weight is required with --out (choose it with --measure)")
        questions = questions_by_domain(root, args.collections)
        counts = question_counts(questions, args.min_domains, args.min_count)
        data = {
            "_about": (
                "Syllables and syllable pairs of Vietnamese questions that questions of at "
                f"least {args.min_domains} of the domains {', '.join(questions)} use "
                f"{args.min_count} times or more, "
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
