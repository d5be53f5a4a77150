"""A test file per open collection from the validation questions ``combine`` never used.

The reader trains on the open sets' training paragraphs; ``combine`` fits answerability and
thresholds on the first ``2 x limit`` validation questions of each collection. The rest,
on paragraphs training never saw, are a fair test of the shipped configuration on the
open sets' own kind of text (translated Wikipedia with SQuAD 2.0's adversarial
unanswerable questions, XQuAD's English questions, native Vietnamese Wikipedia):

    python -m evals.reader.open_test --out runs/open-test
    hoidap eval --dataset runs/open-test/squad2_vi.json --out runs/open-test/squad2_vi

Each file holds every paragraph of its collection (retrieval has the distractors it would
have) and the unused validation questions; nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from evals.datasets import context_key
from evals.reader.combine import validation_questions
from evals.reader.data import TRAINING_COLLECTIONS, load_examples, read_collection
from evals.reader.train import DEFAULT_ROOT, split_examples


def test_squad(root: Path, name: str, questions: list[tuple[str, str, bool]]) -> dict:
    """SQuAD-v2 JSON: every paragraph of ``name``; ``questions`` on their own paragraph."""
    rows = read_collection(root, name)
    paragraphs: dict[str, dict] = {}
    home: dict[str, str] = {}
    for r in rows:
        key = context_key(r.context)
        paragraphs.setdefault(key, {"context": r.context, "qas": []})
        home.setdefault(r.question, key)
    for i, (question, answer, answerable) in enumerate(questions):
        if question not in home:
            continue  # a programmatic swap: not one of the collection's own questions
        entry = {"id": f"{name}-t{i}", "question": question, "is_impossible": not answerable}
        context = paragraphs[home[question]]["context"]
        start = max(0, context.find(answer))
        entry["answers"] = [{"text": answer, "answer_start": start}] if answerable else []
        paragraphs[home[question]]["qas"].append(entry)
    return {"version": "v2.0", "data": [{"title": "", "paragraphs": list(paragraphs.values())}]}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--data", default=str(DEFAULT_ROOT))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=150, help="as given to combine")
    args = p.parse_args(argv)
    root, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    examples = load_examples(root, list(TRAINING_COLLECTIONS), args.seed)
    _, val = split_examples(examples, random.Random(args.seed))
    for name in TRAINING_COLLECTIONS:
        unused = validation_questions(val, name)[2 * args.limit :]
        data = test_squad(root, name, unused)
        asked = sum(len(p["qas"]) for p in data["data"][0]["paragraphs"])
        (out / f"{name}.json").write_text(json.dumps(data, ensure_ascii=False))
        print(f"{name}: {asked} questions", flush=True)


if __name__ == "__main__":
    main()
