"""``hoidap eval separation RUN…``: how far a run's support score separates the questions.

Refusal compares one support score (``Answer.top_score``) with one threshold, so how
well that score ranks answerable above unanswerable questions bounds what any threshold
can do. For each run this reports that ranking (AUC) and, per false-refusal target, the
share of unanswerable questions the best single threshold would refuse. The threshold
is read off the run itself: a ceiling for the answerer that produced the scores (what
recalibration alone could reach), never a threshold to ship, which is chosen on
validation collections only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evals.reader.validate import auc, threshold_at
from evals.report import load_run
from index.errors import HoidapError

DEFAULT_TARGETS = (0.02, 0.05, 0.08)


@dataclass
class Separation:
    """One run's answerable/unanswerable support scores and what a threshold could do."""

    run: str
    answerable: int
    unanswerable: int
    auc: float
    ceiling: dict[float, tuple[float, float]]  # target -> (threshold, unanswerable refused)


def separation(run: str, targets: tuple[float, ...] = DEFAULT_TARGETS) -> Separation:
    """The separation of one eval run folder (``hoidap eval --out RUN``), or of several
    pooled as ``RUN_A+RUN_B`` (e.g. a collection's run and its article-absent run)."""
    preds = [p for folder in run.split("+") for p in load_run(folder)[1]]
    pos = [_support(p) for p in preds if p.get("answerable")]
    neg = [_support(p) for p in preds if not p.get("answerable")]
    if not pos or not neg:
        raise HoidapError(
            f"{run} needs answerable and unanswerable questions to measure separation "
            f"({len(pos)} answerable, {len(neg)} unanswerable); evaluate a set with both.",
            f"{run} cần cả câu hỏi trả lời được và không trả lời được "
            f"({len(pos)} / {len(neg)}); hãy đánh giá một bộ có cả hai.",
            code="separation_needs_both",
        )
    ceiling = {}
    for target in targets:
        t = threshold_at(pos, target)
        ceiling[target] = (t, float(np.mean(np.asarray(neg) < t)))
    return Separation(run, len(pos), len(neg), auc(pos, neg), ceiling)


def _support(pred: dict) -> float:
    """A refusal without a score (nothing retrieved) ranks below every scored answer."""
    score = pred.get("top_score")
    return float(score) if score is not None else float("-inf")


def render(rows: list[Separation]) -> str:
    """A Markdown table: one row per run."""
    targets = list(rows[0].ceiling) if rows else []
    head = ["run", "answerable", "unanswerable", "AUC"]
    head += [f"refused at ≤ {100 * t:g} % false refusals (threshold)" for t in targets]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        cells = [r.run, str(r.answerable), str(r.unanswerable), f"{r.auc:.3f}"]
        cells += [f"{100 * r.ceiling[t][1]:.1f} % ({r.ceiling[t][0]:.3f})" for t in targets]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
