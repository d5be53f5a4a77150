"""Fit the refusal model on a QA set and write assistant/answering/calibration.json.

    python -m evals.calibrate [--dataset evals/data/seed_qa.jsonl]

A logistic regression (numpy, L2) over the extractive answerer's evidence features.
The threshold is the highest one whose leave-one-out false-refusal rate on
answerable questions stays within the target (5%); the leave-one-out figures are
recorded next to the weights so that nobody mistakes the fit for a test.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from assistant.answering.refusal import RefusalModel
from evals.datasets import load_dataset
from index.config import Settings

FEATURES = (
    "sentence_coverage",
    "window_coverage",
    "passage_coverage",
    "bigram_coverage",
    "max_missing_idf",
    "number_missing",
    "name_missing",
    "type_missing",
    "conflict",
    "dense_top",
    "english",
    "score",
)
CALIBRATION = Path(__file__).resolve().parents[1] / "assistant" / "answering" / "calibration.json"


def collect(settings: Settings, dataset: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Evidence features and answerable labels for every question of the set."""
    from assistant.answering.assistant import Assistant

    assistant = Assistant(settings, refusal=None)
    rows, labels, ids = [], [], []
    for item in load_dataset(dataset).items:
        analysis = assistant.analyse(item.question, item.history or [])
        rows.append([analysis.features.get(f, 0.0) for f in FEATURES])
        labels.append(1.0 if item.answerable else 0.0)
        ids.append(item.id)
    return np.asarray(rows, dtype=float), np.asarray(labels), ids


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 4000, lr: float = 0.1):
    """Standardised L2 logistic regression by gradient descent (deterministic)."""
    mean, scale = x.mean(0), x.std(0) + 1e-9
    z = (x - mean) / scale
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        g = p - y
        w -= lr * (z.T @ g / len(y) + l2 * w / len(y))
        b -= lr * g.mean()
    return mean, scale, w, b


def predict(model, x: np.ndarray) -> np.ndarray:
    mean, scale, w, b = model
    return 1 / (1 + np.exp(-(((x - mean) / scale) @ w + b)))


def leave_one_out(x: np.ndarray, y: np.ndarray, l2: float) -> np.ndarray:
    out = np.zeros(len(y))
    for i in range(len(y)):
        mask = np.arange(len(y)) != i
        out[i] = predict(fit(x[mask], y[mask], l2), x[i : i + 1])[0]
    return out


def choose_threshold(p: np.ndarray, y: np.ndarray, max_false_refusals: float) -> float:
    """A threshold whose false-refusal rate on answerable questions is within the target.

    Halfway between the last answerable probability it may refuse and the first it must
    answer, so that the answerable question on the edge is not decided by rounding.
    """
    answerable = np.sort(p[y == 1])
    if not len(answerable):
        return 0.5
    allowed = int(np.floor(max_false_refusals * len(answerable)))
    if allowed == 0:
        return float(answerable[0]) / 2
    return float(answerable[allowed - 1] + answerable[allowed]) / 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="evals/data/seed_qa.jsonl")
    parser.add_argument("--max-false-refusals", type=float, default=0.05)
    parser.add_argument("--l2", type=float, default=1.0)
    parser.add_argument("--out", default=str(CALIBRATION))
    args = parser.parse_args(argv)

    x, y, _ = collect(Settings.load(), Path(args.dataset))
    loo = leave_one_out(x, y, args.l2)
    threshold = choose_threshold(loo, y, args.max_false_refusals)
    mean, scale, w, b = fit(x, y, args.l2)
    model = RefusalModel(FEATURES, tuple(mean), tuple(scale), tuple(w), float(b), threshold)
    report = {
        "fitted_on": args.dataset,
        "questions": int(len(y)),
        "answerable": int(y.sum()),
        "leave_one_out": {
            "false_refusal_rate": float(np.mean(loo[y == 1] < threshold)),
            "unanswerable_refused": float(np.mean(loo[y == 0] < threshold)),
        },
        **model.to_json(),
    }
    Path(args.out).write_text(
        json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(
        json.dumps(
            {k: report[k] for k in ("questions", "leave_one_out", "refusal_threshold")},
            ensure_ascii=False,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
