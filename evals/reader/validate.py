"""Choose the reader's refusal threshold on validation questions (never the seed QA sets).

Each validation question is scored as retrieval would hand it over: its answer window
plus a window without the answer. The answerable score is the best sentence probability
over both; the unanswerable one is the same for its swapped-detail question. The
threshold is the highest that keeps false refusals at or under the target (5 % for the
extractive answerer, 2 % for the floor in front of an LLM).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evals.reader.data import Example

TARGET_FALSE_REFUSALS = 0.05
TARGET_LLM_FALSE_REFUSALS = 0.02


def threshold_at(answerable: list[float], rate: float) -> float:
    """Highest threshold refusing at most ``rate`` of ``answerable`` (refuse when score < t)."""
    scores = np.sort(np.asarray(answerable, dtype=np.float64))
    if len(scores) == 0:
        return 0.5
    k = int(np.floor(rate * len(scores)))  # this many may fall below
    return float(scores[k]) if k < len(scores) else float(scores[-1])


def macro_threshold_at(groups: list[list[float]], rate: float) -> float:
    """Highest threshold whose false-refusal rate, averaged over ``groups`` (validation
    collections, each counted once whatever its size), is at most ``rate``.

    Requiring the rate of every collection alone lets the smallest one decide: with 30
    answerable questions, its 5 % quantile is its second-lowest score."""
    groups = [np.sort(np.asarray(g, dtype=np.float64)) for g in groups if len(g)]
    if not groups:
        return 0.5
    best = float(min(g[0] for g in groups))  # refuses nothing
    for t in np.unique(np.concatenate(groups)):
        refused = np.mean([np.searchsorted(g, t, side="left") / len(g) for g in groups])
        if refused > rate:
            break
        best = float(t)
    return best


def auc(pos: list[float], neg: list[float]) -> float:
    if not pos or not neg:
        return float("nan")
    p, n = np.asarray(pos), np.asarray(neg)
    return float((p[:, None] > n[None, :]).mean() + 0.5 * (p[:, None] == n[None, :]).mean())


def _support_rows(reader, question: str, passages: list[str]) -> dict | None:
    from assistant.answering.reader.answerer import answerability_features

    reading = reader.read(question, [("", p) for p in passages])
    if not reading.sentences:
        return None
    ranked = sorted(reading.sentences, key=lambda s: (-s.probability, s.passage, s.sentence))
    return {"best": ranked[0], "features": answerability_features(question, reading, ranked)}


def score_validation(reader, examples: list[Example]) -> dict:
    """Per validation question: the answerable reading and its swapped-question reading."""
    by_q: dict[str, dict[str, list[Example]]] = {}
    for e in examples:
        by_q.setdefault(e.meta.get("qid", ""), {}).setdefault(e.kind, []).append(e)
    rows = []
    for qid in sorted(by_q):
        group = by_q[qid]
        pos = group.get("positive", [])
        if not pos:
            continue
        passages = [pos[0].passage, *(e.passage for e in group.get("passage_negative", []))]
        got = _support_rows(reader, pos[0].question, passages)
        if got is None:
            continue
        best = got["best"]
        right = best.passage == 0 and pos[0].labels[best.sentence] == 1
        rows.append(
            {
                "qid": qid,
                "label": 1,
                "features": got["features"],
                "p": best.probability,
                "right": right,
            }
        )
        for q in group.get("question_negative", []):
            neg = _support_rows(reader, q.question, passages)
            if neg is not None:
                rows.append(
                    {
                        "qid": qid,
                        "label": 0,
                        "features": neg["features"],
                        "p": neg["best"].probability,
                    }
                )
    return {"rows": rows}


def choose_threshold(model_dir: Path, examples: list[Example]) -> dict:
    """Fit the answerability model on half the validation questions, pick thresholds on the other."""
    from assistant.answering.reader.answerability import fit
    from assistant.answering.reader.runtime import Reader

    reader = Reader(model_dir)
    rows = score_validation(reader, examples)["rows"]
    qids = sorted({r["qid"] for r in rows})
    fit_ids = set(qids[::2])
    fit_rows = [r for r in rows if r["qid"] in fit_ids]
    pick_rows = [r for r in rows if r["qid"] not in fit_ids]
    model = fit([r["features"] for r in fit_rows], [r["label"] for r in fit_rows])
    support = {id(r): model.probability(r["features"]) for r in rows}
    ans = [support[id(r)] for r in pick_rows if r["label"] == 1]
    neg = np.asarray([support[id(r)] for r in pick_rows if r["label"] == 0])
    t = threshold_at(ans, TARGET_FALSE_REFUSALS)
    floor = threshold_at(ans, TARGET_LLM_FALSE_REFUSALS)
    positives = [r for r in rows if r["label"] == 1]
    return {
        "threshold": round(t, 6),
        "llm_floor": round(floor, 6),
        "answerability": model.to_json(),
        "validation": {
            "questions": len(positives),
            "swapped_questions": len(rows) - len(positives),
            "best_sentence_right": round(
                sum(r["right"] for r in positives) / max(1, len(positives)), 4
            ),
            "auc_reader_only": round(
                auc(
                    [r["p"] for r in pick_rows if r["label"] == 1],
                    [r["p"] for r in pick_rows if r["label"] == 0],
                ),
                4,
            ),
            "auc_answerability": round(auc(ans, neg.tolist()), 4),
            "swapped_refused_at_threshold": round(float((neg < t).mean()) if len(neg) else 0.0, 4),
        },
    }
