"""Quality gate: fail when a report metric drops under (or rises over) its threshold.

The thresholds live in ``evals/gate.json``::

    {"min": {"retrieval.nDCG@10": 0.93, ...}, "max": {"grounding.false_refusal_rate": 0.2}}

Keys are dotted paths into ``report.json``. Only deterministic metrics belong there
(never latency or the LLM judge), so the gate catches regressions, not noise.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from index.errors import HoidapError


class GateError(HoidapError):
    """The gate file is unreadable, or the report misses metrics it names."""

    code = "eval_gate_error"


class GateFailed(HoidapError):
    """One or more metrics are on the wrong side of their thresholds."""

    code = "eval_gate_failed"


@dataclass(frozen=True)
class Check:
    metric: str
    bound: str  # "min" | "max"
    threshold: float
    value: float | None

    @property
    def ok(self) -> bool:
        if self.value is None:
            return False
        return self.value >= self.threshold if self.bound == "min" else self.value <= self.threshold

    def describe(self) -> str:
        value = "missing" if self.value is None else f"{self.value:.4f}"
        sign = ">=" if self.bound == "min" else "<="
        return f"{self.metric} = {value} (required {sign} {self.threshold:.4f})"


def load_gate(path: str | Path) -> dict[str, dict[str, float]]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GateError(
            f"Cannot read the gate file {path}: {exc}. Expected JSON like "
            '{"min": {"retrieval.nDCG@10": 0.9}, "max": {...}}.',
            f"Không đọc được tệp ngưỡng {path}. Cần JSON dạng "
            '{"min": {"retrieval.nDCG@10": 0.9}, "max": {...}}.',
        ) from exc
    gate: dict[str, dict[str, float]] = {}
    for bound in ("min", "max"):
        table = data.get(bound, {}) if isinstance(data, dict) else None
        if not isinstance(table, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in table.values()
        ):
            raise GateError(
                f"{path}: '{bound}' must map metric paths to numbers.",
                f"{path}: '{bound}' phải ánh xạ tên chỉ số sang số.",
            )
        gate[bound] = {str(k): float(v) for k, v in table.items()}
    if not gate["min"] and not gate["max"]:
        raise GateError(
            f"{path}: no thresholds ('min' and 'max' are empty).", f"{path}: chưa có ngưỡng nào."
        )
    return gate


def lookup(report: Mapping, metric: str) -> float | None:
    """Value of a dotted path such as ``retrieval.nDCG@10`` (None when absent or not a number)."""
    node = report
    for part in metric.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return float(node) if isinstance(node, int | float) and not isinstance(node, bool) else None


def check(report: Mapping, gate: Mapping[str, Mapping[str, float]]) -> list[Check]:
    return [
        Check(metric, bound, threshold, lookup(report, metric))
        for bound in ("min", "max")
        for metric, threshold in gate.get(bound, {}).items()
    ]


def enforce(report: Mapping, gate_path: str | Path) -> list[Check]:
    """All checks; raises :class:`GateFailed` listing every metric that misses its threshold."""
    checks = check(report, load_gate(gate_path))
    failed = [c for c in checks if not c.ok]
    if failed:
        listing = "; ".join(c.describe() for c in failed)
        raise GateFailed(
            f"Quality gate failed ({len(failed)} of {len(checks)} metrics, {gate_path}): {listing}",
            f"Không đạt ngưỡng chất lượng ({len(failed)}/{len(checks)} chỉ số, {gate_path}): {listing}",
        )
    return checks
