"""``hoidap eval compare RUN_A RUN_B``: per-metric deltas and the questions that changed.

A question "changed outcome" when its one-word outcome differs between the runs
(e.g. ``correct`` -> ``false_refusal``, ``top1`` -> ``miss``); regressions are listed
first. Differences in data set or configuration are printed up front, because they
explain (or invalidate) every delta below them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from evals.report import load_run
from evals.scoring import GOOD_OUTCOMES

SECTIONS = ("retrieval", "answers", "grounding", "latency", "judge")
SKIP = {"n_judged", "n_scored", "n_answered", "n", "n_failed", "n_unparsed", "false_refusals"}


@dataclass
class Change:
    id: str
    kind: str | None
    question: str
    before: str
    after: str

    @property
    def direction(self) -> str:
        was, now = self.before in GOOD_OUTCOMES, self.after in GOOD_OUTCOMES
        if was and not now:
            return "regressed"
        if now and not was:
            return "improved"
        return "changed"


@dataclass
class Comparison:
    deltas: list[tuple[str, float | None, float | None]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def flat_metrics(report: Mapping) -> dict[str, float | None]:
    """``section.metric`` -> value for every scalar headline metric."""
    out: dict[str, float | None] = {}
    for section in SECTIONS:
        for key, value in (report.get(section) or {}).items():
            if key in SKIP or isinstance(value, bool):
                continue
            if value is None or isinstance(value, int | float):
                out[f"{section}.{key}"] = value
    return out


def _warnings(a: Mapping, b: Mapping) -> list[str]:
    out = []
    da, db = a.get("dataset") or {}, b.get("dataset") or {}
    if da.get("sha256") != db.get("sha256"):
        out.append(f"different data sets: {da.get('path')} vs {db.get('path')}")
    if da.get("n_evaluated") != db.get("n_evaluated"):
        out.append(
            f"different number of questions: {da.get('n_evaluated')} vs {db.get('n_evaluated')}"
        )
    ga, gb = a.get("git") or {}, b.get("git") or {}
    if ga.get("commit") != gb.get("commit"):
        out.append(f"code: commit {str(ga.get('commit'))[:10]} -> {str(gb.get('commit'))[:10]}")
    ca, cb = a.get("config") or {}, b.get("config") or {}
    for key in sorted(set(ca) | set(cb)):
        if ca.get(key) != cb.get(key):
            out.append(f"config {key}: {ca.get(key)} -> {cb.get(key)}")
    return out


def compare_runs(run_a: str | Path, run_b: str | Path) -> Comparison:
    report_a, preds_a = load_run(run_a)
    report_b, preds_b = load_run(run_b)
    ma, mb = flat_metrics(report_a), flat_metrics(report_b)
    result = Comparison(warnings=_warnings(report_a, report_b))
    result.deltas = [(name, ma.get(name), mb.get(name)) for name in dict.fromkeys([*ma, *mb])]
    by_id_a = {p["id"]: p for p in preds_a}
    by_id_b = {p["id"]: p for p in preds_b}
    for pid, pa in by_id_a.items():
        pb = by_id_b.get(pid)
        if pb is None:
            result.only_a.append(pid)
        elif pa.get("outcome") != pb.get("outcome"):
            result.changes.append(
                Change(
                    pid,
                    pa.get("kind"),
                    pa.get("question", ""),
                    str(pa.get("outcome")),
                    str(pb.get("outcome")),
                )
            )
    result.only_b = [pid for pid in by_id_b if pid not in by_id_a]
    order = {"regressed": 0, "improved": 1, "changed": 2}
    result.changes.sort(key=lambda c: (order[c.direction], c.id))
    return result


def _num(value: float | None, name: str) -> str:
    if value is None:
        return "–"
    return f"{value:.1f}" if name.startswith("latency.") else f"{100 * value:.2f}"


def _delta(a: float | None, b: float | None, name: str) -> str:
    if a is None or b is None:
        return "–"
    d = b - a
    return f"{d:+.1f}" if name.startswith("latency.") else f"{100 * d:+.2f}"


def render(result: Comparison, run_a: str | Path, run_b: str | Path) -> str:
    lines = [f"So sánh / compare: A = {run_a}  B = {run_b}"]
    lines += [f"! {w}" for w in result.warnings]
    width = max([len(n) for n, _, _ in result.deltas] + [6])
    lines += ["", f"{'metric'.ljust(width)}  {'A':>9}  {'B':>9}  {'Δ (B-A)':>9}"]
    for name, a, b in result.deltas:
        lines.append(
            f"{name.ljust(width)}  {_num(a, name):>9}  {_num(b, name):>9}  {_delta(a, b, name):>9}"
        )
    lines.append("(percent points; latency in ms)")
    lines.append("")
    if not result.changes:
        lines.append("Không có câu hỏi nào đổi kết quả. / No question changed outcome.")
    else:
        counts = {
            d: sum(1 for c in result.changes if c.direction == d)
            for d in ("regressed", "improved", "changed")
        }
        lines.append(
            f"Câu hỏi đổi kết quả / questions that changed outcome: {len(result.changes)} "
            f"(regressed {counts['regressed']}, improved {counts['improved']}, other {counts['changed']})"
        )
        for c in result.changes:
            kind = f" [{c.kind}]" if c.kind else ""
            question = c.question if len(c.question) <= 100 else c.question[:97] + "…"
            lines.append(f"  {c.direction:9}  {c.id}{kind}: {c.before} -> {c.after}  {question}")
    if result.only_a or result.only_b:
        lines.append(f"Only in A: {len(result.only_a)} questions; only in B: {len(result.only_b)}")
    return "\n".join(lines) + "\n"
