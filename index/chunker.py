"""Sentence-aware chunking within a tiktoken budget, with overlap.

Chunks pack whole sentences up to ``max_tokens`` (o200k_base); the last sentences
of a chunk (up to ``overlap_tokens``) open the next one so that a fact split
across a boundary is still retrievable in one piece. A sentence longer than the
budget is split on word boundaries.
"""

from __future__ import annotations

import hashlib
import re

from index.tokens import count_tokens
from index.types import Article, Chunk

# Abbreviations that end with a period but do not end a sentence.
_NON_TERMINAL = {
    "ts",
    "ths",
    "pgs",
    "gs",
    "tp",
    "tt",
    "ks",
    "bs",
    "ông",
    "bà",
    "st",
    "mr",
    "ms",
    "dr",
    "no",
    "tr",
}
_BOUNDARY_RE = re.compile(r"(?<=[.!?…])[\"”’)\]]*\s+(?=[\"“‘(\[]?[A-ZĐÀ-Ỹ0-9])", re.U)


def split_sentences(text: str) -> list[str]:
    """Split text into sentences; a line break always ends one (a heading, a list item),
    and abbreviations such as ``TS.`` stay intact."""
    if "\n" in text:
        return [s for line in text.split("\n") for s in _split_line(line)]
    return _split_line(text)


def _split_line(paragraph: str) -> list[str]:
    parts: list[str] = []
    start = 0
    for m in _BOUNDARY_RE.finditer(paragraph):
        candidate = paragraph[start : m.start()].rstrip()
        last_word = re.findall(r"(\w+)[\"”’)\]]*[.!?…]$", candidate)
        if last_word and last_word[-1].lower() in _NON_TERMINAL:
            continue
        seg = paragraph[start : m.end()].strip()
        if seg:
            parts.append(seg)
        start = m.end()
    tail = paragraph[start:].strip()
    if tail:
        parts.append(tail)
    return parts


def _split_long(sentence: str, max_tokens: int) -> list[str]:
    words = sentence.split(" ")
    pieces, current = [], []
    for w in words:
        current.append(w)
        if count_tokens(" ".join(current)) > max_tokens and len(current) > 1:
            current.pop()
            pieces.append(" ".join(current))
            current = [w]
    if current:
        pieces.append(" ".join(current))
    return pieces


def _join(sentences: list[tuple[str, bool]]) -> str:
    """Sentences joined as the article had them: a line break before a paragraph's first."""
    out = ""
    for i, (sent, opens_paragraph) in enumerate(sentences):
        if i:
            out += "\n" if opens_paragraph else " "
        out += sent
    return out


# Joining sentences changes a BPE count by about a token per join (the separator, or a
# merge across it); a packing decision is counted exactly only when the sum of the
# sentences' own counts comes within this margin of the budget. Far from it, the answer
# is the same and the joined text need not be encoded (most of chunking's time before).
EXACT_COUNT_MARGIN = 16


class _Packer:
    """Token counts of sentence runs: the exact count of the joined text when a decision
    is close, the sum of per-sentence counts (plus one per join) when it is not."""

    def __init__(self, sentences: list[tuple[str, bool]], counts: list[int] | None = None):
        self.counts = counts if counts is not None else [count_tokens(s) for s, _ in sentences]
        self.sentences = sentences

    def exceeds(self, run: list[int], limit: int) -> bool:
        estimate = sum(self.counts[i] for i in run) + len(run) - 1
        if estimate + EXACT_COUNT_MARGIN <= limit:
            return False
        return count_tokens(self.text(run)) > limit

    def text(self, run: list[int]) -> str:
        return _join([self.sentences[i] for i in run])


def _pack(
    sentences: list[tuple[str, bool]],
    max_tokens: int,
    overlap_tokens: int,
    counts: list[int] | None = None,
) -> list[tuple[str, int]]:
    """Greedy packing of whole sentences; sizes are exact token counts of the joined text.

    ``sentences`` are (text, opens a paragraph). Paragraph breaks survive inside a chunk,
    so headings and list items stay lines of their own for the answerers. Summing
    per-sentence counts undercounts by a token now and then (BPE merges differ once
    sentences are joined), so every decision near the budget counts the real text
    (``_Packer``). ``counts``, when given, are the sentences' own token counts.
    """
    packer = _Packer(sentences, counts)
    texts: list[tuple[str, int]] = []
    current: list[int] = []

    def close(run: list[int]) -> None:
        text = packer.text(run)
        texts.append((text, count_tokens(text)))

    for i in range(len(sentences)):
        if current and packer.exceeds([*current, i], max_tokens):
            close(current)
            # Carry the tail sentences (up to the overlap budget) into the next chunk.
            carry: list[int] = []
            for prev in reversed(current):
                candidate = [prev, *carry]
                if packer.exceeds(candidate, overlap_tokens):
                    break
                if packer.exceeds([*candidate, i], max_tokens):
                    break
                carry = candidate
            current = carry
        current.append(i)
    if current:
        close(current)
    return texts


def chunk_id(source: str, title: str, date: str | None, text: str, dup: int = 0) -> str:
    """Content-derived id: the same passage of the same article always gets the same id."""
    key = "\x1f".join([source, title, date or "", text, str(dup)])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


def chunk_article(article: Article, max_tokens: int = 220, overlap_tokens: int = 40) -> list[Chunk]:
    """Chunks of the article body; each carries the article's title, date and author."""
    if max_tokens < 20:
        raise ValueError(f"chunk budget must be at least 20 tokens, got {max_tokens}")
    if not 0 <= overlap_tokens < max_tokens // 2:
        raise ValueError(
            f"overlap must be between 0 and half the budget ({max_tokens // 2}), got {overlap_tokens}"
        )
    sentences: list[tuple[str, bool]] = []
    counts: list[int] = []  # each sentence is counted once, here, and reused by the packer
    for para in article.body.split("\n"):
        for j, sent in enumerate(_split_line(para)):
            n = count_tokens(sent)
            if n <= max_tokens:
                sentences.append((sent, j == 0))
                counts.append(n)
                continue
            for k, piece in enumerate(_split_long(sent, max_tokens)):
                sentences.append((piece, j == 0 and k == 0))
                counts.append(count_tokens(piece))
    texts = _pack(sentences, max_tokens, overlap_tokens, counts)
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for pos, (text, n) in enumerate(texts):
        dup = seen.get(text, 0)
        seen[text] = dup + 1
        chunks.append(
            Chunk(
                chunk_id=chunk_id(article.source, article.title, article.date, text, dup),
                source=article.source,
                title=article.title,
                date=article.date,
                author=article.author,
                text=text,
                position=pos,
                article_hash=article.content_hash,
                n_tokens=n,
            )
        )
    return chunks
