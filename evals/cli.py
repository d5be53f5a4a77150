"""``hoidap eval`` subcommands, registered into the main CLI.

* ``hoidap eval --dataset PATH [--out DIR] [--k 10] [--limit N] [--gate evals/gate.json]``
* ``hoidap eval compare RUN_A RUN_B``
* ``hoidap eval gate RUN_DIR [--gate evals/gate.json]`` (re-check a finished run)
* ``hoidap eval separation RUN_DIR… [--targets 0.02 0.05]`` (what any refusal threshold
  could do with a run's support scores)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from index.config import Settings
from index.errors import HoidapError

DEFAULT_GATE = Path(__file__).resolve().parent / "gate.json"

HEADLINE = (
    ("retrieval", "P@1"),
    ("retrieval", "Recall@10"),
    ("retrieval", "MRR@{k}"),
    ("retrieval", "nDCG@{k}"),
    ("answers", "contains"),
    ("answers", "F1"),
    ("grounding", "citation_precision"),
    ("grounding", "citation_validity"),
    ("grounding", "refusal_accuracy"),
    ("grounding", "false_refusal_rate"),
)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"phải là số nguyên dương / must be a positive integer: {text!r}"
        )
    return value


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate on a data set (QA JSONL, BEIR folder, SQuAD JSON, CSV)",
        description="Chạy bộ đánh giá và ghi báo cáo. / Run an evaluation and write a report folder.",
    )
    p.add_argument(
        "--dataset", help="QA .jsonl, BEIR folder, SQuAD .json or .csv (context,question,answer)"
    )
    p.add_argument("--out", help="run folder (default: <HOIDAP_HOME>/eval/<data set name>)")
    p.add_argument(
        "--k", type=_positive, default=10, help="cut-off for MRR@k and nDCG@k (default 10)"
    )
    p.add_argument("--limit", type=_positive, help="only the first N questions")
    p.add_argument("--retrieval-only", action="store_true", help="rank documents, do not answer")
    p.add_argument(
        "--gate", help="thresholds JSON (e.g. evals/gate.json); exit 1 when a metric misses one"
    )
    p.add_argument("--no-judge", action="store_true", help="skip the LLM faithfulness judge")
    p.add_argument("--no-plots", action="store_true", help="do not draw PNG plots")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--accent-free",
        action="store_true",
        help="ask every question without diacritics (as staff often type); gold unchanged",
    )
    p.set_defaults(func=_cmd_eval)
    sub = p.add_subparsers(dest="eval_command", metavar="{compare,gate,separation}")
    c = sub.add_parser("compare", help="per-metric deltas and changed questions of two runs")
    c.add_argument("run_a")
    c.add_argument("run_b")
    c.set_defaults(func=_cmd_compare)
    g = sub.add_parser("gate", help="check a finished run against thresholds")
    g.add_argument("run")
    g.add_argument("--gate", dest="gate_file", default=str(DEFAULT_GATE))
    g.set_defaults(func=_cmd_gate)
    s = sub.add_parser(
        "separation",
        help="how well runs' support scores separate answerable from unanswerable questions",
    )
    s.add_argument("runs", nargs="+", metavar="RUN", help="run folder, or RUN_A+RUN_B pooled")
    s.add_argument(
        "--targets",
        nargs="+",
        type=float,
        help="false-refusal shares to report the best threshold's refusals at "
        "(default 0.02 0.05 0.08)",
    )
    s.set_defaults(func=_cmd_separation)


def _summary(report: dict) -> str:
    k = report["config"]["k"]
    parts = []
    for section, key in HEADLINE:
        key = key.format(k=k)
        value = (report.get(section) or {}).get(key)
        if value is not None:
            parts.append(f"{key} {100 * value:.2f}")
    lat = report.get("latency") or {}
    if lat.get("p50_ms") is not None:
        parts.append(f"p50 {lat['p50_ms']:.0f} ms, p95 {lat['p95_ms']:.0f} ms")
    return ", ".join(parts)


def _cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from evals.gate import load_gate
    from evals.runner import EvalOptions, run_eval

    if not args.dataset:
        raise HoidapError(
            "Missing --dataset PATH (QA .jsonl, BEIR folder, SQuAD .json or .csv), "
            "or use `hoidap eval compare RUN_A RUN_B`.",
            "Thiếu --dataset PATH (tệp .jsonl, thư mục BEIR, tệp SQuAD .json hoặc .csv), "
            "hoặc dùng `hoidap eval compare RUN_A RUN_B`.",
            code="missing_dataset",
        )
    if args.gate:
        load_gate(args.gate)  # a broken gate file fails before the (long) run, not after
    out = Path(args.out) if args.out else settings.home / "eval" / Path(args.dataset).stem
    options = EvalOptions(
        k=args.k,
        limit=args.limit,
        retrieval_only=args.retrieval_only,
        progress=not args.quiet,
        judge=not args.no_judge,
        plots=not args.no_plots,
        accent_free=args.accent_free,
    )
    run = run_eval(args.dataset, out, settings, options=options)
    print(f"{run.report['dataset']['name']}: {_summary(run.report)}")
    print(f"Báo cáo / report: {out / 'report.md'}")
    if args.gate:
        _apply_gate(run.report, args.gate)
    return 0


def _apply_gate(report: dict, gate_path: str) -> None:
    """Print every check; a failure raises GateFailed (exit 1, metrics listed on stderr)."""
    from evals.gate import check, enforce, load_gate

    for c in check(report, load_gate(gate_path)):
        print(f"  {'đạt / ok   ' if c.ok else 'TRƯỢT / FAIL'}  {c.describe()}")
    enforce(report, gate_path)
    print(f"Đạt ngưỡng chất lượng / quality gate passed ({gate_path}).")


def _cmd_gate(args: argparse.Namespace, settings: Settings) -> int:
    from evals.report import load_run

    report, _ = load_run(args.run)
    _apply_gate(report, args.gate_file)
    return 0


def _cmd_compare(args: argparse.Namespace, settings: Settings) -> int:
    from evals.compare import compare_runs, render

    sys.stdout.write(render(compare_runs(args.run_a, args.run_b), args.run_a, args.run_b))
    return 0


def _cmd_separation(args: argparse.Namespace, settings: Settings) -> int:
    from evals.separation import DEFAULT_TARGETS, render, separation

    targets = tuple(args.targets) if args.targets else DEFAULT_TARGETS
    bad = [t for t in targets if not 0.0 <= t < 1.0]
    if bad:
        raise HoidapError(
            f"--targets must be shares between 0 and 1 (got {bad}); e.g. --targets 0.05.",
            f"--targets phải là tỉ lệ từ 0 đến 1 (nhận {bad}); ví dụ --targets 0.05.",
            code="bad_targets",
        )
    sys.stdout.write(render([separation(run, targets) for run in args.runs]))
    return 0
