"""Write and read a run folder: predictions.jsonl, report.json, report.md, plots."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from evals.scoring import GOOD_OUTCOMES
from index.errors import HoidapError

PREDICTIONS = "predictions.jsonl"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
WORST_N = 15


def metric_rows(report: Mapping) -> list[tuple[str, str, str, str]]:
    """(section, key, label, unit) of every headline metric; unit "pct" prints x100."""
    retrieval = [
        ("retrieval", name, name, "pct")
        for name in (report.get("retrieval") or {})
        if name != "n_judged"
    ]
    rows = retrieval + [
        ("answers", "EM", "EM", "pct"),
        ("answers", "F1", "F1", "pct"),
        ("answers", "contains", "contains gold answer", "pct"),
        ("grounding", "citation_precision", "citation precision", "pct"),
        ("grounding", "citation_validity", "citation validity", "pct"),
        ("grounding", "refusal_accuracy", "refusal accuracy (unanswerable refused)", "pct"),
        ("grounding", "false_refusal_rate", "false refusals (answerable refused)", "pct"),
        ("latency", "p50_ms", "latency p50", "ms"),
        ("latency", "p95_ms", "latency p95", "ms"),
        ("judge", "faithfulness", "LLM-judge faithfulness (not gated)", "pct"),
    ]
    return rows


def fmt(value, kind: str = "pct") -> str:
    if value is None:
        return "–"
    if kind == "pct":
        return f"{100 * value:.2f}"
    if kind == "ms":
        return f"{value:.0f} ms"
    return str(value)


def _cell(text) -> str:
    text = "" if text is None else str(text)
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= 140 else text[:137] + "…"


def _severity(pred: Mapping, k: int) -> tuple:
    """Lowest retrieval, then lowest F1, then the most confident wrong answer first."""
    scores = pred.get("scores") or {}
    return (
        scores.get(f"nDCG@{k}", 1.0),
        scores.get("F1", 1.0),
        -(pred.get("top_score") or 0.0),
        pred["id"],
    )


def worst_questions(preds: Sequence[Mapping], k: int, n: int = WORST_N) -> list[Mapping]:
    """Failed questions (bad outcome), worst first."""
    bad = [p for p in preds if p.get("outcome") not in GOOD_OUTCOMES]
    return sorted(bad, key=lambda p: _severity(p, k))[:n]


def render_markdown(report: Mapping, preds: Sequence[Mapping]) -> str:
    ds, cfg = report["dataset"], report["config"]
    k = cfg.get("k", 10)
    git = report.get("git") or {}
    lines = [
        f"# Báo cáo đánh giá / evaluation report: {ds['name']}",
        "",
        f"- Tập dữ liệu / data set: `{ds['path']}` ({ds['format']}, "
        f"{ds['n_evaluated']} / {ds['n_items']} câu hỏi, sha256 `{ds['sha256'][:12]}`)",
        f"- Bộ nhúng / embedder: `{cfg['embedder']}`; fusion `{json.dumps(cfg['fusion'])}`; "
        f"refusal threshold {cfg['refusal_threshold']}; top_k {cfg['top_k']}; answerer {cfg['answerer']}",
        f"- Retrieval at {ds['retrieval_level']} level, {report['retrieval'].get('n_judged', 0)} judged questions",
        f"- Commit `{git.get('commit') or '?'}`{' (local changes)' if git.get('dirty') else ''}; "
        f"time {report['timing']['index_seconds']} s indexing + {report['timing']['eval_seconds']} s questions",
        "",
        "| nhóm / group | chỉ số / metric | giá trị / value |",
        "| --- | --- | --- |",
    ]
    for section, key, label, kind in metric_rows(report):
        data = report.get(section) or {}
        if key in data:
            lines.append(f"| {section} | {label} | {fmt(data[key], kind)} |")
    judge = report.get("judge") or {}
    if "skipped" in judge:
        lines.append(f"| judge | LLM-judge faithfulness | skipped: {_cell(judge['skipped'])} |")
    lines += ["", "Percentages except latency.", "", "## Theo loại câu hỏi / per kind", ""]
    cols = ["n", "accuracy", f"nDCG@{k}", "P@1", "contains", "refused"]
    lines += ["| kind | " + " | ".join(cols) + " |", "| --- " * (len(cols) + 1) + "|"]
    for kind, row in (report.get("per_kind") or {}).items():
        cells = [str(row["n"])] + [fmt(row.get(c)) for c in cols[1:]]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    worst = worst_questions(preds, k)
    lines += ["", "## Câu hỏi kém nhất / worst questions", ""]
    if not worst:
        lines.append("Không có câu hỏi nào sai. / No failed questions.")
    else:
        lines += [
            f"| id | kind | outcome | nDCG@{k} | question | answer | gold |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for p in worst:
            gold = p.get("gold") or {}
            gold_text = "; ".join(gold.get("answers") or []) or ", ".join(gold.get("sources") or [])
            lines.append(
                f"| {p['id']} | {p.get('kind') or ''} | {p['outcome']} | "
                f"{fmt((p.get('scores') or {}).get(f'nDCG@{k}'))} | {_cell(p['question'])} | "
                f"{_cell(p.get('answer'))} | {_cell(gold_text)} |"
            )
    plots = report.get("plots") or {}
    if plots:
        lines += ["", "## Biểu đồ / plots", ""]
        lines += [f"![{name}]({file})" for name, file in plots.items()]
    return "\n".join(lines) + "\n"


def write_report(
    out_dir: Path, report: dict, preds: Sequence[Mapping], with_plots: bool = True
) -> None:
    """Write the whole run folder (plots first, so report.json lists them)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / PREDICTIONS).open("w", encoding="utf-8") as fh:
        for p in preds:
            fh.write(json.dumps(p, ensure_ascii=False) + "\n")
    if with_plots:
        from evals.plots import write_plots

        report["plots"] = write_plots(out_dir, report, preds)
    (out_dir / REPORT_JSON).write_text(
        json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    (out_dir / REPORT_MD).write_text(render_markdown(report, preds), encoding="utf-8")


def load_run(run_dir: str | Path) -> tuple[dict, list[dict]]:
    """report.json and predictions.jsonl of a run folder, with a clear error when missing."""
    run_dir = Path(run_dir)
    try:
        report = json.loads((run_dir / REPORT_JSON).read_text(encoding="utf-8"))
        lines = (run_dir / PREDICTIONS).read_text(encoding="utf-8").splitlines()
        preds = [json.loads(line) for line in lines if line.strip()]
    except (OSError, ValueError) as exc:
        raise HoidapError(
            f"{run_dir} is not an eval run folder (needs {REPORT_JSON} and {PREDICTIONS}): {exc}. "
            "Run `hoidap eval --dataset ... --out DIR` first.",
            f"{run_dir} không phải thư mục kết quả đánh giá (cần {REPORT_JSON} và {PREDICTIONS}). "
            "Hãy chạy `hoidap eval --dataset ... --out DIR` trước.",
            code="bad_eval_run",
        ) from exc
    return report, preds
