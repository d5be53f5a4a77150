"""How a (question, passage) pair becomes the reader's input, the same in training and use.

The passage is the article title (when known) on its first line, then the passage text.
It is cut into sentences (lines first, then sentence boundaries); every sentence knows
its character span, and every passage token knows which sentence it belongs to, so one
forward pass scores all the sentences of a passage at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from index.chunker import split_sentences
from index.e5_tokenizer import E5Tokenizer

MAX_LENGTH = 192  # tokens per (question, passage) pair
MIN_SENTENCE_CHARS = 3
# Passage text per pair: about 130-160 tokens, so a pair fits MAX_LENGTH. Training reads
# windows of whole sentences this long, and so does the runtime (a longer passage is read
# as several windows, never cut off).
WINDOW_CHARS = 520


@dataclass
class PairInput:
    """One pair, encoded: ids/mask padded by the batcher; ``sentence_of`` per token (-1: none)."""

    ids: list[int]
    sentence_of: np.ndarray
    sentences: list[tuple[int, int]]  # char spans in ``text``
    text: str  # the passage side as the model read it (title line + passage)
    body_start: int  # where the passage text starts inside ``text``
    offsets: list[tuple[int, int]]  # per token char span in ``text`` ((0, 0): question/special)


def passage_text(title: str, passage: str) -> tuple[str, int]:
    """The passage side of the pair and where the passage body starts in it."""
    title = " ".join((title or "").split())
    if not title:
        return passage, 0
    return f"{title}\n{passage}", len(title) + 1


def sentence_spans(text: str, start: int = 0) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text[start:]`` (each line split into sentences)."""
    spans: list[tuple[int, int]] = []
    pos = start
    for line in text[start:].split("\n"):
        cursor = 0
        for sent in split_sentences(line):
            at = line.find(sent, cursor)
            if at < 0:
                continue
            cursor = at + len(sent)
            if len(sent.strip()) >= MIN_SENTENCE_CHARS:
                spans.append((pos + at, pos + cursor))
        pos += len(line) + 1
    return spans


def window_ranges(spans: list[tuple[int, int]], limit: int = WINDOW_CHARS) -> list[tuple[int, int]]:
    """Consecutive sentence index ranges [i, j) of at most ``limit`` characters each (a
    longer sentence is a window of its own); together they cover every sentence once."""
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(spans):
        j = i + 1
        while j < len(spans) and spans[j][1] - spans[i][0] <= limit:
            j += 1
        out.append((i, j))
        i = j
    return out


def encode_pair(
    tokenizer: E5Tokenizer, question: str, title: str, passage: str, max_length: int = MAX_LENGTH
) -> PairInput:
    text, body = passage_text(title, passage)
    enc = tokenizer.encode_pairs([question], [text], max_length=max_length)
    ids = enc.ids[0][: int(enc.mask[0].sum())].tolist()
    offsets = enc.offsets[0]
    segments = enc.segments[0]
    spans = sentence_spans(text, body)
    sentence_of = np.full(len(ids), -1, dtype=np.int64)
    j = 0
    for t, ((s, e), seg) in enumerate(zip(offsets, segments, strict=True)):
        if seg != 1 or e <= s:
            continue
        mid = (s + e - 1) // 2 if e - s > 1 else s
        while j < len(spans) and spans[j][1] <= mid:
            j += 1
        if j < len(spans) and spans[j][0] <= mid < spans[j][1]:
            sentence_of[t] = j
    # A sentence cut off by truncation keeps its tokens; one with none is not scored.
    return PairInput(ids, sentence_of, spans, text, body, offsets)


def sentence_pool(sentence_of: np.ndarray, n_sentences: int, width: int) -> np.ndarray:
    """(n_sentences, width) averaging matrix: row i averages the tokens of sentence i."""
    pool = np.zeros((n_sentences, width), dtype=np.float32)
    for t, s in enumerate(sentence_of):
        if s >= 0:
            pool[s, t] = 1.0
    counts = pool.sum(axis=1, keepdims=True)
    return pool / np.maximum(counts, 1.0)
