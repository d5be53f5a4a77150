"""The assistant: question (+ history) → standalone question → retrieve → refuse or answer → cite.

Every interface (CLI, Gradio UI, HTTP API, widget, eval harness) goes through
:class:`Assistant`, so they all answer the same way. Heavy pieces (model, store,
lexical index) load on first use.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from assistant.answering.answer import REFUSAL_TEXT, Answer, Citation
from assistant.answering.citations import VerifiedStream, verify_citations
from assistant.answering.extractive import ExtractiveAnswerer, ExtractiveResult, ScoringWeights
from assistant.answering.followup import rewrite_followup, trim_history
from assistant.answering.leakguard import LeakGuard
from assistant.answering.reader.answerer import ReaderAnswerer, answer_span
from assistant.answering.reader.runtime import Reader, shared_reader
from assistant.answering.refusal import RefusalModel, default_model
from assistant.answering.retriever import FusionConfig, HybridRetriever
from assistant.answering.subjects import named_subject
from assistant.answering.summary import (
    TOPIC_COVERAGE,
    SummaryRequest,
    choose_article,
    summarize,
    summary_request,
)
from index.config import Settings
from index.embedders import Embedder, get_embedder
from index.errors import ConfigError, HoidapError, IndexEmpty, InvalidQuestion
from index.lexical import LexicalIndex
from index.normalize import is_valid_unicode, match_form, nfc, repair_unicode
from index.pipeline import load_lexical
from index.store import ChunkStore
from index.types import ScoredChunk

log = logging.getLogger(__name__)

LLM_FALLBACK_NOTICE = (
    "Mô hình ngôn ngữ hiện không phản hồi; dưới đây là câu trả lời trích từ các bài viết."
)
EMPTY_INDEX_MESSAGE = (
    "Chưa có bài viết nào được lập chỉ mục. Hãy chạy `hoidap index` (hoặc `make run`) rồi thử lại."
)


ASK_TOPIC = (
    "Bạn muốn tóm tắt bài viết nào? Hãy nêu chủ đề của bài, ví dụ «Tóm tắt bài viết về Nam Định»."
)

_DEFAULT = object()
ANSWERERS = ("reader", "rules")


class Assistant:
    """Answers questions over the indexed articles, in Vietnamese, with citations."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        llm=None,
        fusion: FusionConfig | None = None,
        refusal: RefusalModel | None = _DEFAULT,  # None: never refuse (calibration runs)
        reader: Reader | None = None,
    ):
        self.settings = settings or Settings.load()
        self._embedder = embedder
        self._store: ChunkStore | None = None
        self._lexical: LexicalIndex | None = None
        self._retriever: HybridRetriever | None = None
        self._llm = llm
        self._llm_checked = llm is not None
        self.fusion = fusion or FusionConfig(dense_weight=self.settings.dense_weight)
        self._sentence_vectors: dict[str, object] = {}  # sentence -> embedding (English questions)
        if self.settings.answerer not in ANSWERERS:
            raise ConfigError(
                f"HOIDAP_ANSWERER={self.settings.answerer!r} is not known; use one of {ANSWERERS}.",
                f"HOIDAP_ANSWERER={self.settings.answerer!r} không hợp lệ; chọn một trong {ANSWERERS}.",
            )
        self.uses_reader = self.settings.answerer == "reader"
        self._reader = reader
        self.never_refuses = refusal is None  # calibration and threshold-choice runs
        if self.uses_reader or refusal is None:
            self.refusal = None
        else:
            self.refusal = default_model() if refusal is _DEFAULT else refusal
        self._threshold: float | None = None
        self.guard = LeakGuard([self.settings.llm_api_key, self.settings.embed_api_key])
        # First use and reloads happen under one lock: API workers share this object.
        self._init_lock = threading.RLock()
        self._generation: str | None = None
        self._checked_at = 0.0
        # Called with (question, Answer) once per finished answer (the server's request log).
        self.on_answer = None
        self._readers = threading.Condition()  # questions in flight vs. a reload
        self._in_flight = 0
        self._reloading = False

    # -- lazy components ---------------------------------------------------------------
    @property
    def reader(self) -> Reader:
        if self._reader is None:
            self._reader = shared_reader(self.settings.reader_dir or None)
        return self._reader

    @property
    def threshold(self) -> float:
        """Support below which the answer is refused (chosen on validation collections)."""
        if self._threshold is None:
            t = self.settings.refusal_threshold
            if t >= 0:
                self._threshold = t
            elif self.never_refuses:
                self._threshold = 0.0
            elif self.uses_reader:
                # In front of an LLM the reader only screens out clear misses (≤ 2 % false
                # refusals); the LLM's own refusal and citation checks decide the rest.
                llm = self.llm is not None
                self._threshold = self.reader.llm_floor if llm else self.reader.threshold
            else:
                self._threshold = self.refusal.threshold
        return self._threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        self._threshold = value

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            with self._init_lock:
                if self._embedder is None:
                    self._embedder = get_embedder(self.settings.embedder, self.settings)
        return self._embedder

    @property
    def store(self) -> ChunkStore:
        if self._store is None:
            with self._init_lock:
                if self._store is None:
                    self._store = ChunkStore(self.settings, self.embedder.identity)
        return self._store

    @property
    def retriever(self) -> HybridRetriever:
        """The retriever, built on first use (under a lock: API workers share this object)."""
        if self._retriever is None:
            with self._init_lock:
                if self._retriever is None:
                    self._build_retriever()
        return self._retriever

    def refresh(self) -> bool:
        """Reload the store, lexical index and caches if `hoidap index` changed the store
        since they were loaded (checked at most every ``refresh_seconds``); True if it did.

        Questions being answered finish on what they started with; new ones wait for the
        reload, so no question reads a store that is being reopened."""
        every = self.settings.refresh_seconds
        if self._retriever is None or every <= 0 or time.monotonic() - self._checked_at < every:
            return False
        with self._init_lock:
            if time.monotonic() - self._checked_at < every:
                return False  # another thread has just checked
            self._checked_at = time.monotonic()
            if self._stored_generation() == self._generation:
                return False
            log.info("the store changed since it was loaded; reloading it")
            with self._readers:
                self._reloading = True
                self._readers.wait_for(lambda: self._in_flight == 0, timeout=30)
            try:
                self.store.reopen()
                self._build_retriever()
            finally:
                with self._readers:
                    self._reloading = False
                    self._readers.notify_all()
            return True

    @contextmanager
    def _reading(self):
        """Marks a question in flight; waits while a reload is under way."""
        with self._readers:
            self._readers.wait_for(lambda: not self._reloading)
            self._in_flight += 1
        try:
            yield
        finally:
            with self._readers:
                self._in_flight -= 1
                self._readers.notify_all()

    def _stored_generation(self) -> str | None:
        try:
            return self.store.generation()
        except HoidapError as exc:  # keep answering from what is loaded
            log.warning("could not check the store for changes: %s", exc)
            return self._generation

    def _build_retriever(self) -> None:
        self._checked_at = time.monotonic()
        generation = self._stored_generation()
        if self.store.count() == 0:
            raise IndexEmpty("The index is empty: run `hoidap index` first.", EMPTY_INDEX_MESSAGE)
        lexical = load_lexical(self.store, self.settings)
        self._lexical = lexical
        self._retriever = HybridRetriever(self.store, self.embedder, lexical, self.fusion)
        self._generation = generation

    @property
    def llm(self):
        """The LLM answerer when HOIDAP_LLM_BASE_URL is set, else None (extractive mode)."""
        if not self._llm_checked:
            with self._init_lock:
                if not self._llm_checked:
                    if self.settings.llm_base_url:
                        from assistant.answering.llm import LLMAnswerer

                        self._llm = LLMAnswerer.from_settings(self.settings)
                    self._llm_checked = True
        return self._llm

    def ready(self) -> dict:
        """Readiness for /readyz: store reachable and index non-empty."""
        try:
            n = self.store.count()
            if n:
                _ = self.retriever
            return {
                "ok": n > 0,
                "chunks": n,
                "store": self.store.location,
                "error": None if n else "index_empty",
            }
        except HoidapError as exc:
            return {
                "ok": False,
                "chunks": 0,
                "store": self.settings.chroma_url or str(self.settings.store_dir),
                "error": exc.code,
            }

    def warm_up(self) -> None:
        self.retriever.retrieve("chuyển đổi số", k=1)
        if self.uses_reader:  # load the reader's graph and tokenizer before the first question
            self.reader.score("chuyển đổi số", [("", "Chuyển đổi số.")])

    # -- validation --------------------------------------------------------------------
    def validate(self, question: str) -> str:
        if not isinstance(question, str) or not question.strip():
            raise InvalidQuestion(
                "The question is empty; type a question.",
                "Câu hỏi đang trống; hãy nhập câu hỏi.",
                code="empty_question",
            )
        if not is_valid_unicode(question):
            raise InvalidQuestion(
                "The question contains invalid Unicode (a lone surrogate); send UTF-8 text.",
                "Câu hỏi chứa ký tự Unicode không hợp lệ; hãy gửi văn bản UTF-8.",
                code="invalid_unicode",
            )
        question = nfc(question)
        limit = self.settings.max_question_chars
        if len(question) > limit:
            raise InvalidQuestion(
                f"The question is {len(question)} characters long; the limit is {limit}. Shorten it.",
                f"Câu hỏi dài {len(question)} ký tự, vượt giới hạn {limit} ký tự. Hãy rút gọn câu hỏi.",
                code="question_too_long",
            )
        return " ".join(question.split())

    # -- the pipeline ------------------------------------------------------------------
    def standalone_question(self, question: str, history: list[dict]) -> str:
        if not history:
            return question
        if self.llm is not None:
            try:
                return self.llm.condense(question, history)
            except Exception as exc:  # LLM down: fall back to the deterministic rewrite
                log.warning("LLM condense failed, using rule-based rewrite: %s", exc)
        lex = self.retriever.lexical
        return rewrite_followup(
            question, history, known=lambda phrase: lex.phrase_count(phrase) > 0
        )

    def _prepare(self, question: str, history: list[dict] | None):
        question = self.validate(question)
        self.refresh()
        with self._reading():
            return self._prepare_fresh(question, history)

    def _prepare_fresh(self, question: str, history: list[dict] | None):
        history = trim_history(_clean_history(history), self.settings.memory_tokens)
        standalone = self.standalone_question(question, history)
        if (request := summary_request(standalone)) is not None:
            return question, history, standalone, *self._summary(request)
        retriever = self.retriever
        query = query_text(standalone, self.settings.max_query_words)
        plan = retriever.plan(query)
        retrieved = retriever.retrieve(query, k=self.settings.top_k, plan=plan)
        retrieved = retriever.with_definitions(query, retrieved, self.settings.top_k)
        retriever.prefetch_articles(retrieved)
        answerer = ExtractiveAnswerer(
            retriever.lexical,
            article_form=retriever.article_form,
            article_raw=retriever.article_text,
            **self._cross_lingual_scoring(plan),
        )
        analysis = answerer.analyse(plan.match_text or query, retrieved, plan.accentless)
        if self.uses_reader:
            # The earlier checks are inputs of the reader's learned ranking and answerability.
            checks = analysis
            reader = ReaderAnswerer(self.reader, passages=self.settings.reader_passages)
            analysis = reader.analyse(plan.dense_text, retrieved, checks)
            return question, history, standalone, retrieved, analysis
        if self.refusal is not None and analysis.evidence:
            analysis.support = self.refusal.probability(analysis.features)
        return question, history, standalone, retrieved, analysis

    def _summary(self, request: SummaryRequest) -> tuple[list[ScoredChunk], ExtractiveResult]:
        """ "Tóm tắt bài viết về Nam Định": the lead and key sentences of the article meant.

        The passages handed on are the summary's own (their markers) and then the rest of
        the article in order, up to ``top_k`` (what an LLM summarises from).
        """
        if not request.topic:
            return [], ExtractiveResult([], 0.0, ["summary without a topic"], reply=ASK_TOPIC)
        retriever = self.retriever
        query = query_text(request.topic, self.settings.max_query_words)
        found = retriever.retrieve(query, k=self.settings.top_k, plan=retriever.plan(query))

        def idf(term: str) -> float:
            return retriever.lexical.idf(term, "folded")

        retriever.prefetch_articles(found)
        chunks, coverage = choose_article(request.topic, found, retriever.article_chunks, idf)
        if not chunks or coverage < TOPIC_COVERAGE:
            return found, ExtractiveResult([], 0.0, ["no article on the requested topic"])
        evidence = summarize(chunks, idf, request.topic)
        passages: dict[str, ScoredChunk] = {}
        for ev in evidence:
            ev.passage = passages.setdefault(ev.passage.chunk.chunk_id, ev.passage)
        for chunk in chunks:
            if len(passages) >= max(self.settings.top_k, len(evidence)):
                break
            passages.setdefault(chunk.chunk_id, ScoredChunk(chunk, 1.0))
        return list(passages.values()), ExtractiveResult(evidence, 1.0 if evidence else 0.0, [])

    def _cross_lingual_scoring(self, plan) -> dict:
        """An English question shares no words with the articles: rank sentences by embedding."""
        if not plan.english:
            return {}
        query = self.embedder.embed_query(plan.dense_text)

        def similarity(sentences: list[str]) -> list[float]:
            missing = [s for s in dict.fromkeys(sentences) if s not in self._sentence_vectors]
            if missing:
                for sent, vec in zip(missing, self.embedder.embed_passages(missing), strict=True):
                    self._sentence_vectors[sent] = vec
            return [float(self._sentence_vectors[s] @ query) for s in sentences]

        return {
            "sentence_similarity": similarity,
            "weights": ScoringWeights(dense=0.8),
            "check_names": False,  # names in an English question are not spelled as in the articles
        }

    def analyse(self, question: str, history: list[dict] | None = None) -> ExtractiveResult:
        """Retrieval and evidence analysis without answering (used to fit the refusal model)."""
        return self._prepare(question, history)[4]

    def _extractive_answer(
        self, analysis: ExtractiveResult, retrieved: list[ScoredChunk]
    ) -> tuple[str, list[Citation]]:
        parts = []
        for ev in analysis.evidence:
            n = retrieved.index(ev.passage) + 1
            parts.append(f"{named_subject(ev.sentence, ev.passage.chunk)} [{n}]")
        text, citations = verify_citations(" ".join(parts), retrieved)
        # The quote is the answer span the reader marked, when it marked one in the sentence.
        spans = {ev.passage.chunk.chunk_id: answer_span(ev) for ev in analysis.evidence}
        for c in citations:
            span = spans.get(c.chunk_id)
            if span and span in c.text:
                c.quote = span
        return text, citations

    def ask(self, question: str, history: list[dict] | None = None) -> Answer:
        """Answer one question; never raises for LLM trouble (falls back to extractive)."""
        final = None
        for event in self.stream(question, history):
            if event["type"] == "final":
                final = event["answer"]
        return final

    def stream(
        self,
        question: str,
        history: list[dict] | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[dict]:
        """Events: ``{"type": "token", "text"}`` … then ``{"type": "final", "answer": Answer}``.

        A ``{"type": "reset"}`` event means: discard the text shown so far. Everything
        passes the leak guard here, whichever interface asked. Setting ``cancel`` (the
        client went away) stops an LLM answer stream and closes its connection.
        """
        events = self.guard.watch(self._answer_events(question, history, cancel))
        return self._reported(question, events) if self.on_answer is not None else events

    def _reported(self, question: str, events: Iterator[dict]) -> Iterator[dict]:
        try:
            for event in events:
                if event["type"] == "final":
                    try:
                        self.on_answer(question, event["answer"])
                    except Exception:  # a log that cannot be written never costs the answer
                        log.exception("could not record the answer")
                yield event
        finally:  # a client that leaves closes the whole chain at once (LLM stream too)
            close = getattr(events, "close", None)
            if close is not None:
                close()

    def _answer_events(
        self, question: str, history: list[dict] | None, cancel: threading.Event | None
    ) -> Iterator[dict]:
        started = time.perf_counter()
        question, history, standalone, retrieved, analysis = self._prepare(question, history)
        refused = (
            analysis.support < self.threshold or not analysis.evidence or bool(analysis.blocking)
        )
        mode = "llm" if self.llm is not None else "extractive"
        # Retrieval is done: what follows is an LLM's stream (network wait) or nothing.
        # Runners move the rest of the stream off the CPU-bound pool at this event.
        yield {"type": "retrieved", "passages": len(retrieved)}
        notice = None
        citations: list[Citation] = []
        text = analysis.reply or REFUSAL_TEXT
        if refused:
            yield {"type": "token", "text": text}
        elif self.llm is not None:
            llm_result = yield from self._stream_llm(standalone, retrieved, history, cancel)
            if llm_result is None:
                mode, notice = "extractive", LLM_FALLBACK_NOTICE
                text, citations = self._extractive_answer(analysis, retrieved)
                yield {"type": "reset", "text": ""}
                yield {"type": "token", "text": text}
            else:
                text, citations = llm_result
                if not citations or match_form(REFUSAL_TEXT) in match_form(text):
                    # Nothing verifiable survived: replace what was streamed with the refusal.
                    refused, text, citations = True, REFUSAL_TEXT, []
                    yield {"type": "reset", "text": ""}
                    yield {"type": "token", "text": text}
        else:  # known in full at once: sent whole, not replayed word by word
            text, citations = self._extractive_answer(analysis, retrieved)
            yield {"type": "token", "text": text}
        if not refused and not citations:
            refused, text = True, REFUSAL_TEXT
        answer = Answer(
            question=question,
            answer=text,
            refused=refused,
            citations=[] if refused else citations,
            mode=mode,
            latency_ms=(time.perf_counter() - started) * 1000,
            standalone_question=standalone,
            notice=notice,
            retrieved=retrieved,
            top_score=analysis.support,
        )
        yield {"type": "final", "answer": answer}

    def _stream_llm(
        self,
        standalone: str,
        retrieved: list[ScoredChunk],
        history: list[dict],
        cancel: threading.Event | None = None,
    ):
        """Stream the LLM's verified sentences; return (text, citations) or None on failure.

        Tokens are held until their sentence is complete and verified
        (:class:`VerifiedStream`): an uncited sentence or a bad marker never reaches the
        client, and the streamed text is the final answer's text.
        """
        verified = VerifiedStream(retrieved)
        try:
            for token in self.llm.stream_answer(standalone, retrieved, history, cancel):
                piece = verified.feed(token)
                if piece:
                    yield {"type": "token", "text": piece}
        except Exception as exc:
            log.warning("LLM answer failed, falling back to extractive: %s", exc)
            return None  # the caller resets what was shown and sends the fallback
        if not verified.raw.strip():
            return None
        text, citations, rest = verified.finish()
        if rest is None:
            yield {"type": "reset", "text": ""}
            rest = text
        if rest:
            yield {"type": "token", "text": rest}
        return text, citations


def query_text(question: str, max_words: int) -> str:
    """The part of a question that retrieval and matching read: its first ``max_words``
    words. Embedding and matching cost grows with the query (a 2,000-character paste
    cost 20-60x a normal question); capping it bounds the costliest valid question to a
    small multiple of a typical one, whose words all fit."""
    words = question.split()
    return question if len(words) <= max_words else " ".join(words[:max_words])


def question_cost(question: str, max_words: int) -> float:
    """Rate-limit units a question costs: 1 for a typical one, up to 3 for one that fills
    the query cap (limits charge by work, not by request count alone)."""
    words = min(len(question.split()), max_words)
    return min(3.0, max(1.0, 3.0 * words / max(1, max_words)))


def _clean_history(history: list[dict] | None) -> list[dict]:
    """Earlier turns with invalid Unicode repaired and invisible controls removed: a pasted
    turn must not break the rewrite or the LLM request."""
    out = []
    for turn in history or []:
        if isinstance(turn, dict):
            turn = dict(turn)
            turn["content"] = nfc(repair_unicode(str(turn.get("content", ""))))
        out.append(turn)
    return out
