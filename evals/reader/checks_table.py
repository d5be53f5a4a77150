"""May a hand-written check refuse on its own? Measured on every held-out collection.

For each collection's held-out SQuAD-v2 file (``evals.reader.loo`` writes them), the
earlier answerer's checks are run on its best sentence and counted: how often each fires
on answerable questions (a refusal it would cause wrongly) and on unanswerable ones (a
refusal it gets right). A check may block an answer alone only if, on every collection,
it fires on at most ``MAX_FALSE_BLOCKS`` of the answerable questions and on more
unanswerable than answerable ones. The verdicts go to ``reader.json`` (``blocking_checks``).

    python -m evals.reader.checks_table --loo runs/loo [--model assistant/answering/reader/model]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from assistant.answering.assistant import Assistant
from assistant.answering.reader.answerability import CHECKS, fired_checks
from evals.corpus import eval_settings, index_corpus
from evals.datasets import load_squad
from index.config import Settings
from index.embedders import get_embedder

MAX_FALSE_BLOCKS = 0.02


def measure(folder: Path) -> dict:
    ds = load_squad(folder / "heldout.json")
    settings = dataclasses.replace(eval_settings(Settings.load(), folder / "run"), answerer="rules")
    embedder = get_embedder(settings.embedder, settings)
    index_corpus(ds.corpus, settings, embedder)
    assistant = Assistant(settings, embedder=embedder, refusal=None)
    counts = {c: {"answerable": 0, "unanswerable": 0} for c in CHECKS}
    n = {"answerable": 0, "unanswerable": 0}
    for item in ds.items:
        kind = "answerable" if item.answerable else "unanswerable"
        analysis = assistant.analyse(item.question)
        n[kind] += 1
        for c, hit in fired_checks(analysis).items():
            counts[c][kind] += int(hit)
    return {c: {k: round(v / max(1, n[k]), 4) for k, v in counts[c].items()} for c in CHECKS} | {
        "n": n
    }


def allowed_checks(table: dict, leave_out: str | None = None) -> list[str]:
    """Checks that help on every collection of ``table`` (but ``leave_out``)."""
    rows = [t for name, t in table.items() if name != leave_out]
    return [
        c
        for c in CHECKS
        if rows
        and all(
            t[c]["answerable"] <= MAX_FALSE_BLOCKS and t[c]["unanswerable"] > t[c]["answerable"]
            for t in rows
        )
    ]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--loo", required=True, help="the folder evals.reader.loo wrote")
    p.add_argument("--model", default="", help="reader folder whose reader.json gets the verdicts")
    args = p.parse_args(argv)
    root = Path(args.loo)
    table = {f.name: measure(f) for f in sorted(root.iterdir()) if (f / "heldout.json").is_file()}
    allowed = allowed_checks(table)
    result = {"table": table, "blocking_checks": allowed, "max_false_blocks": MAX_FALSE_BLOCKS}
    (root / "checks.json").write_text(json.dumps(result, indent=2) + "\n")
    if args.model:
        card_path = Path(args.model) / "reader.json"
        card = json.loads(card_path.read_text())
        card["blocking_checks"] = allowed
        card_path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
