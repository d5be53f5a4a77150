"""Per-question scores and run-level aggregates, computed from predictions alone.

Everything here reads the prediction dicts written to ``predictions.jsonl`` (plus the
data set's gold), so a report can be recomputed from a run folder without rerunning.
Retrieval for QA sets is scored at source-document level: documents are ranked by
their best chunk, and a question's gold is the set of its source files (or, for an
external corpus, its own document ids).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from evals.datasets import Dataset, QAItem
from evals.metrics import (
    DEFAULT_KS,
    citation_precision,
    citation_validity,
    contains_answer,
    exact_match,
    latency_summary,
    normalize_answer,
    refusal_metrics,
    retrieval_metrics,
    retrieval_per_query,
    token_f1,
)

# Outcomes that count as a success in per-kind accuracy and in `compare`.
GOOD_OUTCOMES = frozenset({"correct", "correct_refusal", "top1"})


def cutoffs(k: int) -> tuple[int, ...]:
    """Recall cut-offs: the standard ones plus ``k``."""
    return tuple(sorted({*DEFAULT_KS, k}))


def depth_for(k: int) -> int:
    """How many documents each question's ranking must hold for every metric to be exact."""
    return max(cutoffs(k))


def doc_run(pred: Mapping) -> dict[str, float]:
    """{source: best chunk score} from a prediction's ranked ``retrieved`` list."""
    run: dict[str, float] = {}
    for hit in pred.get("retrieved") or []:
        src = str(hit["source"])
        run[src] = max(run.get(src, float("-inf")), float(hit["score"]))
    return run


def _golds(item: QAItem) -> list[str]:
    return [a for a in item.answers if normalize_answer(a)]


def score_prediction(pred: Mapping, item: QAItem, judged: Mapping[str, int] | None, k: int) -> dict:
    """Per-question metrics: retrieval (when judged), answer and grounding (when answered)."""
    scores: dict[str, float | bool | None] = {}
    if judged:
        per_q = retrieval_per_query(
            {item.id: doc_run(pred)}, {item.id: judged}, cutoffs(k), mrr_k=k, ndcg_k=k
        )[item.id]
        scores.update(per_q)
    answer = pred.get("answer")
    if answer is None or pred.get("error"):
        return scores
    refused = bool(pred.get("refused"))
    golds = _golds(item)
    if item.answerable and golds:
        text = "" if refused else answer
        scores["EM"] = 0.0 if refused else exact_match(text, golds)
        scores["F1"] = 0.0 if refused else token_f1(text, golds)
        scores["contains"] = float(not refused and contains_answer(text, golds))
    citations = pred.get("citations") or []
    if not refused:
        passages = [p["chunk_id"] for p in pred.get("passages") or []]
        scores["citation_valid"] = citation_validity(answer, citations, passages)["valid"]
        if item.answerable and item.sources:
            scores["citation_precision"] = citation_precision(
                [c["source"] for c in citations], item.sources
            )
    return scores


def outcome(pred: Mapping, item: QAItem, scores: Mapping, k: int) -> str:
    """One word per question, so that two runs can be compared question by question."""
    if pred.get("error"):
        return "error"
    if pred.get("answer") is None:  # retrieval only
        if "P@1" not in scores:
            return "unjudged"
        if scores["P@1"] > 0:
            return "top1"
        return f"top{k}" if scores.get(f"Recall@{k}", 0) > 0 else "miss"
    refused = bool(pred.get("refused"))
    if not item.answerable:
        return "correct_refusal" if refused else "answered_unanswerable"
    if refused:
        return "false_refusal"
    if "contains" not in scores:
        return "answered"
    return "correct" if scores["contains"] else "wrong"


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _kind(item: QAItem) -> str:
    return item.kind or ("answerable" if item.answerable else "unanswerable")


def aggregate(dataset: Dataset, items: Sequence[QAItem], preds: Sequence[Mapping], k: int) -> dict:
    """Run-level metrics over ``items`` (their predictions in the same order)."""
    qrels = {
        it.id: dataset.qrels[it.id] for it in items if dataset.qrels and it.id in dataset.qrels
    }
    run = {p["id"]: doc_run(p) for p in preds}
    retrieval = retrieval_metrics(run, qrels, cutoffs(k), mrr_k=k, ndcg_k=k)
    retrieval["n_judged"] = len(qrels)

    answered = [(it, p) for it, p in zip(items, preds, strict=True) if p.get("answer") is not None]
    report: dict = {"n": len(items), "n_errors": sum(1 for p in preds if p.get("error"))}
    report["retrieval"] = retrieval
    scores = [p.get("scores") or {} for p in preds]
    if answered:
        ok = [(it, p) for it, p in answered if not p.get("error")]
        squad = refusal_metrics(
            {
                "answerable": it.answerable,
                "refused": p.get("refused"),
                "prediction": p.get("answer") or "",
                "answers": it.answers,
            }
            for it, p in ok
        )
        contains = [s["contains"] for s in scores if "contains" in s]
        report["answers"] = {
            "EM": squad["HasAns_exact"],
            "F1": squad["HasAns_f1"],
            "contains": _mean(contains),
            "n_scored": len(contains),
            "squad_v2": squad,
        }
        precision = [
            s["citation_precision"] for s in scores if s.get("citation_precision") is not None
        ]
        valid = [float(s["citation_valid"]) for s in scores if "citation_valid" in s]
        report["grounding"] = {
            "citation_precision": _mean(precision),
            "citation_validity": _mean(valid),
            "refusal_accuracy": squad["refusal_accuracy"],
            "false_refusal_rate": squad["false_refusal_rate"],
            "false_refusals": sum(1 for p in preds if p.get("outcome") == "false_refusal"),
            "n_answered": len(valid),
        }
    lat = latency_summary(p["latency_ms"] for p in preds if p.get("latency_ms") is not None)
    report["latency"] = {
        "n": lat["n"],
        "p50_ms": lat["p50"],
        "p95_ms": lat["p95"],
        "mean_ms": lat["mean"],
        "max_ms": lat["max"],
    }
    report["per_kind"] = per_kind(items, preds, k)
    return report


def per_kind(items: Sequence[QAItem], preds: Sequence[Mapping], k: int) -> dict[str, dict]:
    """Accuracy (share of good outcomes) and the main metrics for each question kind."""
    groups: dict[str, list[Mapping]] = defaultdict(list)
    for it, p in zip(items, preds, strict=True):
        groups[_kind(it)].append(p)
    out: dict[str, dict] = {}
    for kind in sorted(groups):
        ps = groups[kind]
        sc = [p.get("scores") or {} for p in ps]
        row: dict[str, float | int | None] = {
            "n": len(ps),
            "accuracy": _mean([float(p.get("outcome") in GOOD_OUTCOMES) for p in ps]),
            f"nDCG@{k}": _mean([s[f"nDCG@{k}"] for s in sc if f"nDCG@{k}" in s]),
            "P@1": _mean([s["P@1"] for s in sc if "P@1" in s]),
        }
        if any(p.get("answer") is not None for p in ps):
            row["contains"] = _mean([s["contains"] for s in sc if "contains" in s])
            row["refused"] = _mean([float(bool(p.get("refused"))) for p in ps])
        out[kind] = row
    return out
