"""Scale benchmark: indexing, re-runs, start-up and `ask` latency at 1 k to 100 k chunks.

Corpora are built from the public Vietnamese QA contexts in ``../shared/benchmarks/``
(never copied into the repository): each article joins eight contexts under a title of
its own, and every copy of a context carries its copy number in its sentences, so no
two chunks are the same text. Per size, in separate processes as a user runs them:

- ``hoidap index DIR`` from scratch and again unchanged (wall time, peak RSS of the child);
- disk used by the data dir;
- cold start: a new process opens the assistant and answers one question (time to the
  answer) and then answers benchmark questions warm (p50 / p95 of `ask`), reporting its
  resident memory at the end.

The fake (hashing) embedder is used for the sizes, so the figures are everything except
embedding; ``--real-docs N`` also indexes N contexts with the default embedder.

    .venv/bin/python bench/scale_bench.py --sizes 1000 10000 100000 [--real-docs 2000]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT.parent / "shared" / "benchmarks"
CONTEXTS_PER_ARTICLE = 8
CHUNKS_PER_CONTEXT = 1.05  # measured on the three collections together (ViMedAQA alone: 1.26)

ASK_PROBE = r"""
import json, sys, time, resource
started = time.perf_counter()
from assistant.answering.assistant import Assistant
questions = json.loads(sys.argv[1])
a = Assistant()
first = a.ask(questions[0])
cold = time.perf_counter() - started
lat = []
for q in questions[1:]:
    t = time.perf_counter()
    a.ask(q)
    lat.append((time.perf_counter() - t) * 1000)
lat.sort()
def pct(p):
    return lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))]
rss = 0
for line in open("/proc/self/status"):
    if line.startswith("VmRSS:"):
        rss = int(line.split()[1]) / 1024
print(json.dumps({"cold_start_s": round(cold, 2), "ask_p50_ms": round(pct(50), 1),
    "ask_p95_ms": round(pct(95), 1), "questions": len(lat), "rss_mb": round(rss, 1),
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""


def contexts_and_questions() -> tuple[list[str], list[str]]:
    texts, questions = [], []
    for name in ("vimedaqa_v2.csv", "alqac.csv", "virhe4qa_v2.csv"):
        path = BENCHMARKS / name
        if not path.is_file():
            continue
        with path.open(encoding="utf-8-sig", newline="") as fh:
            for row in csv.DictReader(fh):
                texts.append(row["context"].replace("\r", ""))
                questions.append(row["question"])
    if not texts:
        raise SystemExit(f"no benchmark CSV under {BENCHMARKS}")
    return list(dict.fromkeys(texts)), questions


def write_corpus(folder: Path, contexts: list[str], n_contexts: int) -> int:
    """``n_contexts`` contexts (copies numbered) as articles of CONTEXTS_PER_ARTICLE each."""
    folder.mkdir(parents=True, exist_ok=True)
    articles = 0
    for start in range(0, n_contexts, CONTEXTS_PER_ARTICLE):
        parts = []
        for i in range(start, min(n_contexts, start + CONTEXTS_PER_ARTICLE)):
            copy, base = divmod(i, len(contexts))
            text = contexts[base]
            if copy:  # the same facts, told as the copy-th edition: distinct text
                text = text.replace(". ", f" (bản {copy}). ", 1) + f" Bản tin số {copy}."
            parts.append(text)
        title = f"Bài tổng hợp số {start // CONTEXTS_PER_ARTICLE + 1}"
        body = f"{title}\n\nNgày 01/10/2023\n\n" + "\n\n".join(parts) + "\n"
        (folder / f"bai-{start // CONTEXTS_PER_ARTICLE:06d}.txt").write_text(body, encoding="utf-8")
        articles += 1
    return articles


def _env(home: Path, embedder: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOIDAP_")}
    env.update(HOIDAP_HOME=str(home), HOIDAP_EMBEDDER=embedder, TOKENIZERS_PARALLELISM="false")
    return env


def _tree_rss_mb(root: int) -> float:
    """Resident memory of ``root`` and all its descendants now (the store writer and the
    chunking workers are child processes of an index run)."""
    parents: dict[int, int] = {}
    rss: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid = int(entry.name)
        parents[pid] = int(fields.get("PPid", "0").strip() or 0)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0]) / 1024 if "VmRSS" in fields else 0
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    return sum(rss.get(pid, 0.0) for pid in tree)


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float, str]:
    """Wall seconds, peak RSS (MB) of the largest single process and of the process tree (sampled
    every 0.2 s, summed over the child and its descendants), and its stdout."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err)
        tree_peak = [0.0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.2):
                tree_peak[0] = max(tree_peak[0], _tree_rss_mb(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out = proc.stdout.read().decode()
        _, status, usage = os.wait4(proc.pid, 0)
        done.set()
        sampler.join()
        wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd[:4])} failed: {err.read().decode()[-2000:]}")
    peak = usage.ru_maxrss / 1024
    return wall, peak, max(peak, tree_peak[0]), out


def disk_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def measure(
    size: int, contexts: list[str], questions: list[str], embedder: str, work: Path
) -> dict:
    n_contexts = max(1, round(size / CHUNKS_PER_CONTEXT))
    corpus, home = work / f"corpus-{size}", work / f"home-{size}"
    articles = write_corpus(corpus, contexts, n_contexts)
    index_cmd = [sys.executable, "-m", "assistant.cli", "index", str(corpus), "--json"]
    first_s, first_rss, first_tree, out = timed(index_cmd, _env(home, embedder))
    summary = json.loads(out)
    rerun_s, rerun_rss, _, out = timed(index_cmd, _env(home, embedder))
    rerun = json.loads(out)
    probe = [sys.executable, "-c", ASK_PROBE, json.dumps(questions[:61], ensure_ascii=False)]
    _, _, _, out = timed(probe, _env(home, embedder))
    ask = json.loads(out.strip().splitlines()[-1])
    result = {
        "target_chunks": size,
        "articles": articles,
        "chunks": summary["chunks"],
        "embedder": embedder,
        "index_s": round(first_s, 1),
        "index_peak_rss_mb": round(first_rss, 1),
        "index_peak_tree_rss_mb": round(first_tree, 1),
        "rerun_s": round(rerun_s, 1),
        "rerun_new": rerun["new"],
        "rerun_peak_rss_mb": round(rerun_rss, 1),
        "disk_mb": round(disk_mb(home), 1),
        **ask,
    }
    print(json.dumps(result), flush=True)
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)
    return result


def cpu_vector_extensions() -> list[str]:
    """The SIMD extensions the CPU reports: timings differ between AVX2 and AVX-512 hosts."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next(
        (line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")),
        [],
    )
    return sorted(
        f for f in flags if f in {"avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8"}
    )


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    p.add_argument(
        "--real-docs", type=int, default=0, help="contexts indexed with the default embedder"
    )
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "scale.json"))
    args = p.parse_args(argv)
    contexts, questions = contexts_and_questions()
    rows = []
    with tempfile.TemporaryDirectory(prefix="hoidap-scale-") as tmp:
        for size in args.sizes:
            rows.append(measure(size, contexts, questions, "fake", Path(tmp)))
        if args.real_docs:
            size = round(args.real_docs * CHUNKS_PER_CONTEXT)
            from index.config import Settings

            rows.append(measure(size, contexts, questions, Settings.load().embedder, Path(tmp)))
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "vector_extensions": cpu_vector_extensions(),
        },
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
