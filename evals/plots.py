"""PNG plots of a run (matplotlib, Agg backend: no display needed).

* per-kind accuracy bars: where the system fails, at a glance;
* latency histogram: the tail, not just p50/p95;
* answer-support score (``Answer.top_score``) of answerable vs unanswerable questions
  with the refusal threshold marked: how well the threshold separates the two.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PER_KIND = "per_kind_accuracy.png"
LATENCY = "latency_hist.png"
SCORES = "score_distribution.png"


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def per_kind_plot(per_kind: Mapping[str, Mapping], path: Path) -> str | None:
    kinds = [k for k, row in per_kind.items() if row.get("accuracy") is not None]
    if not kinds:
        return None
    values = [100 * per_kind[k]["accuracy"] for k in kinds]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(kinds) + 1.2))
    bars = ax.barh(kinds, values, color="#2b7bba")
    ax.bar_label(
        bars,
        labels=[f"{v:.0f}% (n={per_kind[k]['n']})" for k, v in zip(kinds, values, strict=True)],
        padding=3,
        fontsize=8,
    )
    ax.set_xlim(0, 115)
    ax.invert_yaxis()
    ax.set_xlabel("accuracy (%)")
    ax.set_title("Độ chính xác theo loại câu hỏi / accuracy per kind")
    return _save(fig, path)


def latency_plot(latencies: Sequence[float], path: Path) -> str | None:
    if not latencies:
        return None
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.hist(latencies, bins=min(40, max(5, len(latencies) // 3)), color="#5a9e6f")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("questions")
    ax.set_title("Độ trễ / latency")
    return _save(fig, path)


def score_plot(preds: Sequence[Mapping], threshold: float | None, path: Path) -> str | None:
    answerable = [
        p["top_score"] for p in preds if p.get("top_score") is not None and p.get("answerable")
    ]
    unanswerable = [
        p["top_score"] for p in preds if p.get("top_score") is not None and not p.get("answerable")
    ]
    if not answerable and not unanswerable:
        return None
    fig, ax = plt.subplots(figsize=(7, 3.5))
    every = answerable + unanswerable
    lo, hi = min(every), max(every)
    bins = [lo + (hi - lo) * i / 30 for i in range(31)] if hi > lo else 10
    if answerable:
        ax.hist(
            answerable,
            bins=bins,
            alpha=0.6,
            label=f"answerable (n={len(answerable)})",
            color="#2b7bba",
        )
    if unanswerable:
        ax.hist(
            unanswerable,
            bins=bins,
            alpha=0.6,
            label=f"unanswerable (n={len(unanswerable)})",
            color="#d1495b",
        )
    if threshold is not None:
        ax.axvline(
            threshold, color="black", linestyle="--", label=f"refusal threshold {threshold:.3f}"
        )
    ax.set_xlabel("answer support score (Answer.top_score)")
    ax.set_ylabel("questions")
    ax.set_title("Điểm hỗ trợ câu trả lời / support score")
    ax.legend(fontsize=8)
    return _save(fig, path)


def write_plots(out_dir: Path, report: Mapping, preds: Sequence[Mapping]) -> dict[str, str]:
    """Write every plot that has data; returns {plot name: file name}."""
    out: dict[str, str] = {}
    made = {
        "per_kind_accuracy": per_kind_plot(report.get("per_kind") or {}, out_dir / PER_KIND),
        "latency_hist": latency_plot(
            [p["latency_ms"] for p in preds if p.get("latency_ms") is not None], out_dir / LATENCY
        ),
        "score_distribution": score_plot(
            preds, (report.get("config") or {}).get("refusal_threshold"), out_dir / SCORES
        ),
    }
    for name, file in made.items():
        if file:
            out[name] = file
    return out
