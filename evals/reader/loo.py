"""Leave-one-collection-out figures for the reader, through the whole assistant.

For each held-out collection: a SQuAD-v2 file is written under ``--out`` with a seeded
sample of its questions and, as unanswerable ones, swapped-detail versions of other
questions (the same generator as training, ``evals.reader.data.Perturber``); then
``hoidap eval`` runs it with the reader that never saw the collection
(``<models>/loo-<collection>``). A second file asks up to ``ABSENT`` questions of the
collection with their own context removed from the corpus (``evals.reader.absent``): the
share refused is the ``absent_refused`` column. The benchmark data stay in ``../shared``:
nothing of them is written into the repository.

    python -m evals.reader.loo --models /tmp/runs --out runs/loo [--limit 300]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
from pathlib import Path

from evals.datasets import context_key
from evals.metrics import contains_answer, token_f1
from evals.reader.absent import absent_squad, pick_absent, seed_index
from evals.reader.checks_table import allowed_checks
from evals.reader.data import COLLECTIONS, Perturber, read_collection
from evals.reader.train import DEFAULT_ROOT
from evals.runner import EvalOptions, run_eval
from index.config import Settings

ABSENT = 100  # article-absent questions per held-out collection (evals.reader.absent)


def heldout_squad(root: Path, name: str, limit: int, seed: int) -> dict:
    """SQuAD-v2 JSON: every context of the collection, ``limit`` answerable questions and
    up to ``limit // 2`` unanswerable ones (a detail swapped for one the context lacks)."""
    rows = read_collection(root, name)
    rng = random.Random(f"{seed}:heldout:{name}")
    order = list(range(len(rows)))
    rng.shuffle(order)
    answerable = order[:limit]
    swap_pool = order[limit:] or order
    perturber = Perturber(rows, rng)
    paragraphs: dict[str, dict] = {}
    for i, row in enumerate(rows):
        paragraphs.setdefault(context_key(row.context), {"context": row.context, "qas": []})
        if i in answerable:
            paragraphs[context_key(row.context)]["qas"].append(
                {
                    "id": f"{name}-{i}",
                    "question": row.question,
                    "answers": [
                        {"text": row.answer, "answer_start": max(0, row.context.find(row.answer))}
                    ],
                    "is_impossible": False,
                }
            )
    made = 0
    for i in swap_pool:
        if made >= limit // 2:
            break
        swapped = perturber.perturb(rows[i].question, rows[i].context)
        if swapped is None:
            continue
        paragraphs[context_key(rows[i].context)]["qas"].append(
            {"id": f"{name}-{i}-swap", "question": swapped[0], "answers": [], "is_impossible": True}
        )
        made += 1
    return {"version": "v2.0", "data": [{"title": "", "paragraphs": list(paragraphs.values())}]}


def summarize(preds: list[dict]) -> dict:
    ans = [p for p in preds if p["answerable"]]
    una = [p for p in preds if not p["answerable"]]
    answered = [p for p in ans if not p["refused"]]

    def share(xs, cond):
        return round(sum(1 for x in xs if cond(x)) / len(xs), 4) if xs else None

    return {
        "answerable": len(ans),
        "unanswerable": len(una),
        "contains": share(
            ans,
            lambda p: not p["refused"] and contains_answer(p["answer"] or "", p["gold"]["answers"]),
        ),
        "contains_when_answered": share(
            answered, lambda p: contains_answer(p["answer"] or "", p["gold"]["answers"])
        ),
        "answer_f1": round(
            sum(token_f1(p["answer"] or "", p["gold"]["answers"]) for p in answered)
            / max(1, len(answered)),
            4,
        ),
        "first_citation_gold": share(
            answered,
            lambda p: bool(p["citations"]) and p["citations"][0]["source"] in p["gold"]["sources"],
        ),
        "false_refusals": share(ans, lambda p: p["refused"]),
        "unanswerable_refused": share(una, lambda p: p["refused"]),
    }


def _evaluate(
    data: Path, absent: Path, folder: Path, run: str, settings: Settings, options: EvalOptions
) -> dict:
    """The held-out file's figures plus the share of article-absent questions refused."""
    result = run_eval(data, folder / run, settings, options=options)
    figures = summarize(result.predictions)
    # The absent run's index starts as a copy of the full one (only deletions to sync).
    seed_index(folder / "run" / "index", folder / f"{run}-absent" / "index")
    missed = run_eval(absent, folder / f"{run}-absent", settings, options=options)
    figures["absent"] = len(missed.predictions)
    figures["absent_refused"] = summarize(missed.predictions)["unanswerable_refused"]
    return figures


def _arguments(argv) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--models", default="runs/readers", help="folder holding loo-<collection>/ readers"
    )
    p.add_argument("--out", required=True)
    p.add_argument("--data", default=str(DEFAULT_ROOT))
    p.add_argument("--limit", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--collections", nargs="+", default=list(COLLECTIONS), choices=list(COLLECTIONS))
    p.add_argument("--tag", default="loo", help="reader folder prefix: <models>/<tag>-<collection>")
    p.add_argument(
        "--model",
        help="one reader for every collection (the shipped one never saw any of them); "
        "overrides --models/--tag",
    )
    p.add_argument("--prepare", action="store_true", help="only write the held-out files")
    p.add_argument(
        "--accent-free",
        action="store_true",
        help="ask every question without diacritics (hoidap eval --accent-free)",
    )
    p.add_argument(
        "--answerer", default="reader", choices=["reader", "rules"], help="rules: the baseline"
    )
    return p.parse_args(argv)


def _write_heldout(args: argparse.Namespace, name: str) -> tuple[Path, Path, Path]:
    """The collection's folder, its held-out questions and its article-absent questions."""
    folder = Path(args.out) / name
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "heldout.json"
    heldout = heldout_squad(Path(args.data), name, args.limit, args.seed)
    data.write_text(json.dumps(heldout, ensure_ascii=False))
    rows = read_collection(Path(args.data), name)
    picked = pick_absent(
        rows, list(range(len(rows))), ABSENT, random.Random(f"{args.seed}:absent:{name}")
    )
    absent = folder / "absent.json"
    absent.write_text(json.dumps(absent_squad(rows, picked, name), ensure_ascii=False))
    return folder, data, absent


def _run_rules(folder: Path, data: Path, absent: Path, options: EvalOptions) -> dict:
    """The hand-tuned answerer over the same embedded corpus (not embedded twice)."""
    settings = dataclasses.replace(Settings.load(), answerer="rules")
    rules_dir = folder / "run-rules"
    rules_dir.mkdir(exist_ok=True)
    if not (rules_dir / "index").exists():
        (folder / "run" / "index").mkdir(parents=True, exist_ok=True)
        (rules_dir / "index").symlink_to((folder / "run" / "index").resolve())
    return _evaluate(data, absent, folder, "run-rules", settings, options)


def _run_reader(model: Path, name: str, paths: tuple[Path, Path, Path], args, options) -> dict:
    folder, data, absent = paths
    checks = Path(args.out) / "checks.json"
    if checks.is_file():  # the checks that may refuse alone, judged without this collection
        card_path = model / "reader.json"
        card = json.loads(card_path.read_text())
        card["blocking_checks"] = allowed_checks(json.loads(checks.read_text())["table"], name)
        card_path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    settings = dataclasses.replace(Settings.load(), answerer="reader", reader_dir=str(model))
    return {**_evaluate(data, absent, folder, "run", settings, options), "reader": str(model)}


def main(argv=None) -> None:
    args = _arguments(argv)
    options = EvalOptions(plots=False, accent_free=args.accent_free)
    table = {}
    for name in args.collections:
        paths = _write_heldout(args, name)
        if args.prepare:
            continue
        if args.answerer == "rules":
            key = f"{name} (rules)"
            table[key] = _run_rules(*paths, options)
        else:
            model = Path(args.model) if args.model else Path(args.models) / f"{args.tag}-{name}"
            key = name
            table[key] = _run_reader(model, name, paths, args, options)
        print(key, json.dumps(table[key]), flush=True)
    if table:  # merged with earlier runs of other collections
        path = Path(args.out) / "loo.json"
        merged = json.loads(path.read_text()) if path.is_file() else {}
        merged.update(table)
        path.write_text(json.dumps(merged, indent=2) + "\n")


if __name__ == "__main__":
    main()
