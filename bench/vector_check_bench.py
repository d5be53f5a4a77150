"""What the damaged-vector-index check costs each `hoidap index` run, and what a repair costs.

A store of ``--chunks`` chunks with random ``--dim``-dimensional vectors (the size of
multilingual-e5-small's) is written straight into embedded Chroma (no model), then:

1. ``vector_index_answers`` on the sound store (every vector read back, one query): the
   time every run of ``hoidap index`` now spends before deciding anything;
2. the HNSW files cut to 100 bytes, then ``repair_vector_index`` with the deterministic
   ``fake`` embedder of the same dimension (so the figure is the store's part; real re-embedding adds what
   ``bench/embed_bench.py`` measures per passage).

    .venv/bin/python bench/vector_check_bench.py                   # 20,000 chunks, 384 dims
    .venv/bin/python bench/vector_check_bench.py --chunks 5000

Results go to ``bench/results/vector_check.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.config import Settings  # noqa: E402
from index.embedders.fake import HashingEmbedder  # noqa: E402
from index.repair import repair_vector_index, vector_index_answers  # noqa: E402
from index.store import ChunkStore  # noqa: E402
from index.types import Chunk  # noqa: E402


def _fill(store: ChunkStore, chunks: int, dim: int) -> None:
    rng = np.random.default_rng(0)
    for start in range(0, chunks, 1000):
        part = [
            Chunk(
                chunk_id=f"c{i:07d}",
                text=f"Đoạn số {i} về dịch vụ công trực tuyến.",
                source=f"bai-{i // 5:06d}.txt",
                title=f"Bài {i // 5}",
                date="2026-12-07",
                author=None,
                position=i % 5,
                article_hash=f"h{i // 5}",
            )
            for i in range(start, min(chunks, start + 1000))
        ]
        store.upsert(part, rng.standard_normal((len(part), dim)).astype(np.float32))


def _timed(fn, *args) -> tuple[object, float]:
    started = time.perf_counter()
    out = fn(*args)
    return out, round(time.perf_counter() - started, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20000)
    parser.add_argument("--dim", type=int, default=384)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        settings = Settings.load(env={"HOIDAP_HOME": home, "HOIDAP_EMBEDDER": "fake"})
        embedder = HashingEmbedder(args.dim)
        store = ChunkStore(settings, embedder.identity)
        _fill(store, args.chunks, args.dim)
        store.reopen()
        sound, check_s = _timed(vector_index_answers, store)
        store.reopen()
        for path in settings.store_dir.glob("*/*.bin"):
            os.truncate(path, 100)
        damaged, damaged_check_s = _timed(vector_index_answers, store)
        store.reopen()
        repaired, repair_s = _timed(repair_vector_index, store, embedder)
    result = {
        "chunks": args.chunks,
        "dim": args.dim,
        "check_sound_s": check_s,
        "sound": sound,
        "check_damaged_s": damaged_check_s,
        "damaged_detected": not damaged,
        "repair_fake_embedder_s": repair_s,
        "repaired_chunks": len(repaired.ids) if repaired else 0,
    }
    out = ROOT / "bench" / "results" / "vector_check.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
