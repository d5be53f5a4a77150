"""Does any retrieved sentence answer the question? A small learned model over the reader.

Inputs are the reader's own outputs (best sentence logit, the passage logit, the margin
over the runner-up, the span head's strongest token in the sentence), retrieval's dense
cosine for the passage, and how much of the question the best sentence, its neighbours and
its passage contain (shares of the question's content syllables and syllable pairs,
compared without accents; names and numbers the passage lacks). The weights are fitted
on validation questions of the training collections (``evals/reader/validate.py``),
never on the seed QA sets, and ship in ``reader.json`` with the model.
"""

from __future__ import annotations

import re

import numpy as np

from assistant.answering.extractive import content_terms
from assistant.answering.refusal import LogisticModel

FEATURES = (
    "best_logit",
    "passage_logit",
    "margin",
    "window_coverage",
    "passage_coverage",
    "passage_pair_coverage",
    "missing_rare",
    "span_logit",
    "dense_best",
    "boundary_margin",
    "boundary_best",
)
# The hand-written checks of the earlier answerer (assistant/answering/extractive.py, slots.py), as
# inputs: their weights are learned with the rest, on validation collections only.
CHECK_FEATURES = (
    "check_number_missing",
    "check_name_missing",
    "check_type_missing",
    "check_conflict",
    "check_blocked",
    "check_window_coverage",
    "check_max_missing_idf",
    "check_score",
)
_RARE_RE = re.compile(r"\d+(?:[.,/]\d+)*|(?<![.!?]\s)(?<!^)\b[A-ZĐ][\wÀ-ỹ&]*")


def _terms(text: str) -> list[str]:
    return content_terms(text, folded=True)


def features(
    question: str,
    best_logit: float,
    runner_up: float | None,
    passage_logit: float,
    window: str,
    passage: str,
    span_logit: float = -50.0,
    dense: float | None = None,
    boundary: float = -50.0,
    boundary_best: float = -50.0,
) -> dict[str, float]:
    """The model's inputs for the best sentence (``window``: it and its neighbours)."""
    q = _terms(question)
    win, pas = set(_terms(window)), _terms(passage)
    pas_set = set(pas)
    pairs = list(zip(q, q[1:], strict=False))
    pas_pairs = set(zip(pas, pas[1:], strict=False))
    rare = {m.group(0).lower() for m in _RARE_RE.finditer(question)}
    lowered = passage.lower()
    return {
        "best_logit": best_logit,
        "passage_logit": passage_logit,
        "margin": best_logit - runner_up if runner_up is not None else 5.0,
        "window_coverage": sum(t in win for t in q) / len(q) if q else 1.0,
        "passage_coverage": sum(t in pas_set for t in q) / len(q) if q else 1.0,
        "passage_pair_coverage": sum(p in pas_pairs for p in pairs) / len(pairs) if pairs else 1.0,
        "missing_rare": float(any(r not in lowered for r in rare)),
        # SQuAD-2-style readers weigh their best answer span against "no answer".
        "span_logit": max(-10.0, span_logit),
        # Retrieval's cosine between the question and the best sentence's passage: how
        # on-topic the passage is at all (an off-topic question's best passage scores low).
        "dense_best": dense if dense is not None else 0.0,
        # The start/end heads' best span minus their "no answer" score, for the best
        # sentence and for the best of all sentences read (SQuAD 2.0's answerability).
        "boundary_margin": max(-20.0, boundary),
        "boundary_best": max(-20.0, boundary_best),
    }


CHECKS = ("number_missing", "name_missing", "type_missing", "conflict", "blocked")


def fired_checks(rules) -> dict[str, bool]:
    """Which of the earlier answerer's checks fire on its best sentence."""
    if rules is None or not rules.evidence:
        return dict.fromkeys(CHECKS, False)
    out = {c: bool(rules.features.get(c, 0.0)) for c in CHECKS if c != "blocked"}
    out["blocked"] = bool(rules.blocking)
    return out


def check_features(rules) -> dict[str, float]:
    """The earlier answerer's verdicts on its own best sentence (``ExtractiveResult``)."""
    if rules is None or not rules.evidence:
        return dict.fromkeys(CHECK_FEATURES, 0.0)
    f = rules.features
    return {
        "check_number_missing": float(f.get("number_missing", 0.0)),
        "check_name_missing": float(f.get("name_missing", 0.0)),
        "check_type_missing": float(f.get("type_missing", 0.0)),
        "check_conflict": float(f.get("conflict", 0.0)),
        "check_blocked": float(bool(rules.blocking)),
        "check_window_coverage": float(f.get("window_coverage", 0.0)),
        "check_max_missing_idf": float(f.get("max_missing_idf", 0.0)),
        "check_score": float(f.get("score", 0.0)),
    }


class AnswerabilityModel(LogisticModel):
    """The reader's answerability model (``reader.json``, fitted by evals/reader/combine.py)."""

    @classmethod
    def from_json(cls, data: dict) -> AnswerabilityModel:
        known = set(FEATURES) | set(CHECK_FEATURES)
        unknown = [f for f in data.get("features", ()) if f not in known]
        if unknown:
            raise ValueError(f"answerability features {unknown} are not computed by this version")
        return cls(**cls.fields_from_json(data))


def fit(
    rows: list[dict[str, float]],
    labels: list[int],
    names: tuple[str, ...] = FEATURES,
    l2: float = 1.0,
) -> AnswerabilityModel:
    """L2-regularised logistic regression (Newton steps) on standardised features."""
    x = np.array([[r.get(f, 0.0) for f in names] for r in rows], dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], l2)
    reg[-1] = 0.0  # the bias is not shrunk
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -50, 50)))
        grad = z.T @ (p - y) + reg * w
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return AnswerabilityModel(
        tuple(names),
        tuple(mean.tolist()),
        tuple(scale.tolist()),
        tuple(w[:-1].tolist()),
        float(w[-1]),
    )
