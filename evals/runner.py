"""``hoidap eval``: run a data set through the real assistant and write a report folder.

QA JSONL sets are answered over the user's own index (the seed articles). External
corpora (BEIR folder, SQuAD JSON, CSV) are indexed into their own collection under
the run folder and never touch the user's index; BEIR is retrieval only. Output:
``predictions.jsonl``, ``report.json``, ``report.md`` and PNG plots.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.answering.assistant import Assistant
from assistant.answering.retriever import FusionConfig
from evals import identity
from evals.corpus import eval_settings, index_corpus
from evals.datasets import Dataset, QAItem, load_dataset
from evals.judge import run_judge
from evals.report import write_report
from evals.scoring import aggregate, depth_for, outcome, score_prediction
from index.config import Settings
from index.embedders import Embedder, get_embedder
from index.errors import HoidapError, InvalidQuestion
from index.normalize import strip_marks
from index.types import ScoredChunk


@dataclass
class EvalOptions:
    k: int = 10  # cut-off of MRR@k / nDCG@k (Recall is also reported at 1, 5, 10, 20)
    limit: int | None = None  # only the first N questions
    retrieval_only: bool = False  # skip answering (always so for BEIR)
    progress: bool = False  # tqdm bar on stderr
    judge: bool = True  # LLM faithfulness judge, when an endpoint is configured
    plots: bool = True
    accent_free: bool = False  # ask every question without diacritics, as staff often type


@dataclass
class EvalRun:
    out_dir: Path
    report: dict
    predictions: list[dict] = field(default_factory=list)


class QueryMemo(Embedder):
    """Remembers the last query vector, so that the deep ranking reuses the answer's one."""

    def __init__(self, inner: Embedder):
        self.inner = inner
        self.identity = inner.identity
        self.batch_size = inner.batch_size
        self._last: tuple[str, np.ndarray] | None = None

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_passages(texts)

    def embed_query(self, text: str) -> np.ndarray:
        if self._last is None or self._last[0] != text:
            self._last = (text, self.inner.embed_query(text))
        return self._last[1]


def typed_accent_free(item: QAItem) -> QAItem:
    """The question (and the turns before it) as typed without diacritics: «Nam Dinh ban
    hanh ke hoach so may?». The assistant must restore them itself; the gold stays."""
    history = item.history and [
        {**turn, "content": strip_marks(turn.get("content") or "")} for turn in item.history
    ]
    return dataclasses.replace(item, question=strip_marks(item.question), history=history)


def external_fusion(settings: Settings, k: int) -> FusionConfig:
    """Fusion for an external corpus: the product's, with a candidate pool deep enough for
    every cut-off (a document may own several chunks)."""
    base = FusionConfig(dense_weight=settings.dense_weight)
    return dataclasses.replace(base, candidates=max(base.candidates, 3 * depth_for(k)))


def rank_documents(assistant: Assistant, question: str, depth: int) -> list[ScoredChunk]:
    """Each document's best chunk, best first, at most ``depth`` documents."""
    hits = assistant.retriever.retrieve(question, k=10**9)
    best: dict[str, ScoredChunk] = {}
    for hit in hits:  # already sorted by fused score
        if hit.chunk.source not in best:
            best[hit.chunk.source] = hit
            if len(best) >= depth:
                break
    return list(best.values())


def _ranked_json(hits: list[ScoredChunk]) -> list[dict]:
    return [
        {"chunk_id": h.chunk.chunk_id, "source": h.chunk.source, "score": round(h.score, 6)}
        for h in hits
    ]


def predict(assistant: Assistant, item: QAItem, depth: int, retrieval_only: bool) -> dict:
    """One prediction line: the answer as ``hoidap ask --json`` gives it, plus the ranking."""
    pred: dict = {
        "id": item.id,
        "question": item.question,
        "kind": item.kind,
        "answerable": item.answerable,
        "answer": None,
        "refused": None,
        "citations": None,
        "gold": {"answers": item.answers, "sources": item.sources},
    }
    started = time.perf_counter()
    try:
        if retrieval_only:
            question = assistant.validate(item.question)
            ranked = rank_documents(assistant, question, depth)
            pred["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
        else:
            answer = assistant.ask(item.question, item.history)
            public = answer.to_json()
            ranked = rank_documents(assistant, answer.standalone_question, depth)
            pred.update(
                answer=public["answer"],
                refused=public["refused"],
                citations=public["citations"],
                latency_ms=public["latency_ms"],
                standalone_question=answer.standalone_question,
                mode=answer.mode,
                top_score=round(float(answer.top_score), 6),
                passages=answer.retrieved_json(),
            )
    except InvalidQuestion as exc:  # one bad question must not end the run
        pred.update(
            retrieved=[], latency_ms=None, error={"code": exc.code, "message": exc.message_en}
        )
        return pred
    pred["retrieved"] = _ranked_json(ranked)
    return pred


def _dataset_section(path: Path, ds: Dataset, items: list[QAItem], limit: int | None) -> dict:
    return {
        "path": str(path),
        "name": ds.name,
        "format": ds.format,
        "sha256": identity.dataset_fingerprint(path),
        "n_items": len(ds.items),
        "n_evaluated": len(items),
        "limit": limit,
        "corpus_documents": len(ds.corpus) if ds.corpus is not None else None,
        "retrieval_level": "source article" if ds.corpus is None else "corpus document",
    }


def _assistant_for(
    ds: Dataset, out_dir: Path, settings: Settings, options: EvalOptions, assistant
) -> tuple[Assistant, dict | None]:
    """The user's assistant for QA sets; for an external corpus, one over its own eval index."""
    if ds.corpus is None:
        if assistant is None:
            embedder = QueryMemo(get_embedder(settings.embedder, settings))
            assistant = Assistant(settings, embedder=embedder)
        return assistant, None
    es = eval_settings(settings, out_dir)
    embedder = QueryMemo(get_embedder(es.embedder, es))
    summary = index_corpus(ds.corpus, es, embedder, progress=options.progress)
    fused = Assistant(es, embedder=embedder, fusion=external_fusion(settings, options.k))
    return fused, summary.to_json()


def run_eval(
    dataset: str | Path,
    out_dir: str | Path,
    settings: Settings | None = None,
    *,
    options: EvalOptions | None = None,
    assistant: Assistant | None = None,
) -> EvalRun:
    """Evaluate ``dataset`` and write the report folder ``out_dir``; returns the report."""
    options = options or EvalOptions()
    if options.k < 1:
        raise HoidapError("--k must be at least 1.", "--k phải lớn hơn hoặc bằng 1.", code="bad_k")
    settings = settings or Settings.load()
    path, out_dir = Path(dataset), Path(out_dir)
    ds = load_dataset(path)
    items = ds.items[: options.limit] if options.limit else list(ds.items)
    if options.accent_free:
        items = [typed_accent_free(item) for item in items]
    out_dir.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    assistant, index_summary = _assistant_for(ds, out_dir, settings, options, assistant)
    index_seconds = time.perf_counter() - started
    retrieval_only = options.retrieval_only or ds.format == "beir"
    depth = depth_for(options.k)
    _ = assistant.retriever  # fail early (empty index) before the loop
    from tqdm import tqdm

    preds = []
    for item in tqdm(
        items, desc="Đánh giá", unit="câu", file=sys.stderr, disable=not options.progress
    ):
        pred = predict(assistant, item, depth, retrieval_only)
        judged = ds.qrels.get(item.id) if ds.qrels else None
        pred["scores"] = score_prediction(pred, item, judged, options.k)
        pred["outcome"] = outcome(pred, item, pred["scores"], options.k)
        preds.append(pred)
    eval_seconds = time.perf_counter() - started - index_seconds

    report = {
        "dataset": _dataset_section(path, ds, items, options.limit),
        "config": {
            **identity.config_identity(assistant.settings, assistant, assistant.embedder.identity),
            "k": options.k,
            "retrieval_only": retrieval_only,
            "accent_free": options.accent_free,
        },
        "versions": identity.package_versions(),
        "git": identity.git_commit(),
        **aggregate(ds, items, preds, options.k),
        "timing": {
            "index_seconds": round(index_seconds, 2),
            "eval_seconds": round(eval_seconds, 2),
            "index": index_summary,
        },
    }
    report["judge"] = run_judge(settings, preds, enabled=options.judge)
    write_report(out_dir, report, preds, with_plots=options.plots)
    return EvalRun(out_dir, report, preds)
