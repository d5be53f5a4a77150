"""Hybrid retrieval: dense (Chroma) + lexical (BM25 accented and folded), score-fused.

Measured on ViMedAQA/ALQAC (evals/README.md): min-max score fusion with dense
weight 0.7 beats rank fusion, and for accent-free queries the folded BM25 field
must carry most of the weight because the dense model reads them poorly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.answering.abbreviations import abbreviations_in
from assistant.answering.query import QueryPlan, plan_query
from assistant.answering.slots import answer_type, defined_term, defines, introduces, term_spellings
from index.embedders import Embedder
from index.lexical import LexicalIndex
from index.normalize import match_form
from index.store import ChunkStore
from index.types import Chunk, ScoredChunk


@dataclass
class FusionConfig:
    dense_weight: float = 0.7  # share of the fused score from the dense model
    accentless_dense_weight: float = 0.35  # same, when the query has no diacritics
    folded_weight: float = 0.5  # weight of the folded BM25 field next to the accented one
    candidates: int = 30  # per retriever, before fusion
    method: str = "score"  # "score" (min-max weighted) or "rrf"
    rrf_k: int = 60


def _minmax(scores: dict[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    lo, hi = min(scores.values()), max(scores.values())
    if hi - lo < 1e-12:
        return {k: 1.0 for k in scores}
    return {k: (v - lo) / (hi - lo) for k, v in scores.items()}


def fuse(
    dense: dict[str, float],
    lexical: dict[str, float],
    dense_weight: float,
    method: str = "score",
    rrf_k: int = 60,
) -> dict[str, float]:
    """Fuse two score maps into one (ids missing from one side get that side's minimum)."""
    ids = set(dense) | set(lexical)
    if method == "rrf":

        def ranks(scores: dict[str, float]) -> dict[str, int]:
            return {
                cid: r
                for r, (cid, _) in enumerate(sorted(scores.items(), key=lambda kv: -kv[1]), 1)
            }

        rd, rl = ranks(dense), ranks(lexical)
        return {
            cid: (1 / (rrf_k + rd[cid]) if cid in rd else 0.0)
            + (1 / (rrf_k + rl[cid]) if cid in rl else 0.0)
            for cid in ids
        }
    if method != "score":
        raise ValueError(f"unknown fusion method {method!r}; choose 'score' or 'rrf'")
    nd, nl = _minmax(dense), _minmax(lexical)
    return {
        cid: dense_weight * nd.get(cid, 0.0) + (1 - dense_weight) * nl.get(cid, 0.0) for cid in ids
    }


class HybridRetriever:
    """Retrieves passages for a question; every component is swappable."""

    def __init__(
        self,
        store: ChunkStore,
        embedder: Embedder,
        lexical: LexicalIndex,
        config: FusionConfig | None = None,
    ):
        self.store = store
        self.embedder = embedder
        self.lexical = lexical
        self.config = config or FusionConfig()
        self._chunks: dict[str, Chunk] = {}
        self._articles: dict[str, str] = {}
        self._article_forms: dict[str, str] = {}
        self._article_chunk_ids: dict[str, list[str]] = {}

    def plan(self, question: str) -> QueryPlan:
        return plan_query(question, restore=self.lexical.restore_diacritics)

    # Chunks and articles are read from the store when first needed and kept. Reading them
    # all at start-up took 2.0 s of a 10 s cold start at 11 k chunks (profiled), growing
    # with the corpus, and held every passage in memory.
    def _fetch(self, chunk_ids: list[str]) -> None:
        missing = [cid for cid in chunk_ids if cid not in self._chunks]
        if missing:
            for c in self.store.get_chunks(missing):
                self._chunks[c.chunk_id] = c

    def chunk(self, chunk_id: str) -> Chunk | None:
        self._fetch([chunk_id])
        return self._chunks.get(chunk_id)

    def prefetch_articles(self, passages: list[ScoredChunk]) -> None:
        """Read the articles of these passages in one store call (the answerer checks them)."""
        self._fetch_articles([p.chunk.source for p in passages])

    def _fetch_articles(self, sources: list[str]) -> None:
        missing = [s for s in dict.fromkeys(sources) if s not in self._articles]
        if missing:
            for source, chunks in self.store.chunks_of_sources(missing).items():
                for c in chunks:
                    self._chunks.setdefault(c.chunk_id, c)
                self._articles[source] = " ".join(c.text for c in chunks)
                self._article_chunk_ids[source] = [c.chunk_id for c in chunks]

    def article_chunks(self, source: str) -> list[Chunk]:
        """The passages of one article, in order (a summary reads them all)."""
        self._fetch_articles([source])
        return [self._chunks[cid] for cid in self._article_chunk_ids.get(source, [])]

    def article_text(self, source: str) -> str:
        """All passages of one article, in order (used to check names the question mentions)."""
        self._fetch_articles([source])
        return self._articles[source]

    def article_form(self, source: str) -> str:
        """Match form of :meth:`article_text`, computed once per article."""
        if source not in self._article_forms:
            self._article_forms[source] = match_form(self.article_text(source))
        return self._article_forms[source]

    def lexical_scores(self, plan: QueryPlan) -> dict[str, float]:
        cfg = self.config
        folded = dict(self.lexical.search(plan.lexical_text, cfg.candidates, field="folded"))
        if plan.accentless:
            return folded
        accented = dict(self.lexical.search(plan.lexical_text, cfg.candidates, field="accented"))
        ids = set(folded) | set(accented)
        return {i: accented.get(i, 0.0) + cfg.folded_weight * folded.get(i, 0.0) for i in ids}

    def retrieve(
        self, question: str, k: int = 6, plan: QueryPlan | None = None
    ) -> list[ScoredChunk]:
        plan = plan or self.plan(question)
        cfg = self.config
        qvec = self.embedder.embed_query(plan.dense_text)
        hits = self.store.query(qvec, cfg.candidates)
        dense = {c.chunk_id: s for c, s in hits}
        for c, _ in hits:
            self._chunks.setdefault(c.chunk_id, c)
        lexical = self.lexical_scores(plan)
        # Lexical-only candidates get their true dense similarity, not a default.
        dense.update(self.store.similarities([i for i in lexical if i not in dense], qvec))
        weight = cfg.accentless_dense_weight if plan.accentless else cfg.dense_weight
        fused = fuse(dense, lexical, weight, cfg.method, cfg.rrf_k)
        ranked = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        self._fetch([cid for cid, _ in ranked])  # lexical-only hits, in one read
        out = []
        for cid, score in ranked:
            chunk = self.chunk(cid)
            if chunk is None:
                continue
            out.append(ScoredChunk(chunk, score, dense=dense.get(cid), lexical=lexical.get(cid)))
        return out

    def _defining_passage(self, term: str) -> Chunk | None:
        """The best lexical match for ``term`` (any spelling) with a clause "<term> là …"."""
        cfg = self.config
        hits: dict[str, float] = {}
        for spelling in term_spellings(term):
            for cid, score in self.lexical.search(spelling, cfg.candidates, field="folded"):
                hits[cid] = max(hits.get(cid, 0.0), score)
        ranked = sorted(hits, key=lambda cid: (-hits[cid], cid))
        self._fetch(ranked)
        for cid in ranked:
            chunk = self.chunk(cid)
            if chunk is not None and defines(term, chunk.text):
                return chunk
        return None

    def with_definitions(
        self, question: str, retrieved: list[ScoredChunk], k: int
    ) -> list[ScoredChunk]:
        """For "CĐS là viết tắt của gì?" or "Đề án 06 là gì?": put first the passage that
        introduces the term.

        A short name is spelled out once, where it is introduced ("Chuyển đổi số (CĐS)"),
        and that passage rarely ranks high: the short name is everywhere else too.
        """
        top = retrieved[0].score if retrieved else 1.0
        if term := defined_term(question):
            for i, r in enumerate(retrieved):  # introduced in brackets: among the retrieved only
                if introduces(term, r.chunk.text):
                    rest = retrieved[:i] + retrieved[i + 1 :]
                    return [ScoredChunk(r.chunk, top, r.dense, r.lexical), *rest][:k]
            if any(defines(term, r.chunk.text) for r in retrieved):
                return retrieved
            # "Chuyển đổi số là gì?": the passage saying "CĐS là …" shares few words with the
            # question beyond the term, which every passage repeats; look for it by the term.
            defining = self._defining_passage(term)
            if defining is not None:
                return [ScoredChunk(defining, top), *retrieved][:k]
            return retrieved
        if answer_type(question) != "abbreviation":
            return retrieved
        # Every chunk's text is in the lexical index: scan it there, read only the match.
        by_id = sorted(zip(self.lexical.chunk_ids, self.lexical.texts, strict=True))
        for word in abbreviations_in(question):
            marker = re.compile(rf"\(\s*{re.escape(word)}\s*\)")
            for cid, text in by_id:
                if marker.search(text) and (chunk := self.chunk(cid)) is not None:
                    if marker.search(chunk.text) is None:
                        continue  # the title matched, not the passage
                    for i, r in enumerate(retrieved):  # retrieved, but maybe low: first
                        if r.chunk.chunk_id == cid:
                            rest = retrieved[:i] + retrieved[i + 1 :]
                            return [ScoredChunk(r.chunk, top, r.dense, r.lexical), *rest][:k]
                    return [ScoredChunk(chunk, top), *retrieved][:k]
        return retrieved
