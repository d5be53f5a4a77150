"""Unanswerable questions whose article is not indexed: the on-topic miss users meet most.

A question of the collection is asked against the collection with its own context
removed, so retrieval hands the answerer the nearest other contexts: the same domain and
often the same terms, but not the answer (the issue's "pair the question with a retrieved
passage that lacks the answer"; the seed sets' near misses are of this kind). Used to fit
the answerability model on validation questions (``evals.reader.combine``) and to measure
it on held-out collections (``evals.reader.loo``). Nothing is written into the repository.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from evals.datasets import context_key
from evals.reader.data import Row

SHARE_OF_CONTEXTS = 0.2  # at most this share of a collection's contexts is removed


def pick_absent(
    rows: list[Row], candidates: list[int], limit: int, rng: random.Random
) -> list[int]:
    """Up to ``limit`` row indices from ``candidates``, one per context, never more than
    ``SHARE_OF_CONTEXTS`` of the collection's contexts (the rest stay as distractors)."""
    contexts = {context_key(r.context) for r in rows}
    limit = min(limit, int(len(contexts) * SHARE_OF_CONTEXTS))
    order = list(candidates)
    rng.shuffle(order)
    chosen, seen = [], set()
    for i in order:
        key = context_key(rows[i].context)
        if key in seen:
            continue
        seen.add(key)
        chosen.append(i)
        if len(chosen) >= limit:
            break
    return sorted(chosen)


def absent_squad(rows: list[Row], picked: list[int], prefix: str) -> dict:
    """SQuAD-v2 JSON: every context but those of ``picked``; their questions, unanswerable.

    The questions hang on the first remaining paragraph: SQuAD ties a question to a
    paragraph, and an unanswerable question's paragraph is not scored for retrieval."""
    removed = {context_key(rows[i].context) for i in picked}
    paragraphs: dict[str, dict] = {}
    for r in rows:
        key = context_key(r.context)
        if key not in removed:
            paragraphs.setdefault(key, {"context": r.context, "qas": []})
    first = next(iter(paragraphs.values()))
    for i in picked:
        first["qas"].append(
            {
                "id": f"{prefix}-{i}-absent",
                "question": rows[i].question,
                "answers": [],
                "is_impossible": True,
            }
        )
    return {"version": "v2.0", "data": [{"title": "", "paragraphs": list(paragraphs.values())}]}


def seed_index(source: Path, target: Path) -> None:
    """Start ``target``'s eval index as a copy of ``source``'s: syncing it to the smaller
    corpus then only deletes chunks, instead of embedding the whole collection again."""
    if source.is_dir() and not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(source, target, symlinks=True)
