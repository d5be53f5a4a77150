"""Server-side citation checks: a marker must point to a passage that was given, and the
sentence it supports must overlap that passage. Invalid markers are dropped."""

from __future__ import annotations

import re

from assistant.answer import Citation
from index.chunker import split_sentences
from index.normalize import char_overlap_ratio, match_form
from index.types import ScoredChunk

MARKER_RE = re.compile(r"\s?\[(\d{1,3})\]")
MIN_OVERLAP = 0.5


def best_quote(sentence: str, passage_text: str) -> str:
    """The passage sentence that best supports ``sentence`` (verbatim from the passage)."""
    sentences = split_sentences(passage_text) or [passage_text]
    return max(sentences, key=lambda s: (char_overlap_ratio(sentence, s), -len(s)))


def _answer_sentences(text: str) -> list[str]:
    """Split an answer into sentences, keeping each sentence's trailing markers with it."""
    out: list[str] = []
    for piece in re.split(r"(?<=\])\s+(?!\[)", text.strip()):
        m = re.search(r"(?:\s*\[\d{1,3}\])+\s*[.!?…]?$", piece)
        markers = m.group(0) if m else ""
        body = piece[: m.start()] if m else piece
        sentences = split_sentences(body) or [body]
        sentences[-1] = sentences[-1] + markers
        out.extend(s for s in sentences if s.strip())
    return out


def verify_citations(answer: str, passages: list[ScoredChunk]) -> tuple[str, list[Citation]]:
    """Keep markers that point to a given passage and whose sentence overlaps it.

    Returns the answer with invalid markers removed and renumbered 1..n in order of
    first appearance, and one citation per surviving marker.
    """
    renumber: dict[int, int] = {}
    citations: list[Citation] = []
    out_sentences: list[str] = []
    for sentence in _answer_sentences(answer):
        bare = MARKER_RE.sub("", sentence).strip()

        def fix(m: re.Match, bare=bare) -> str:
            n = int(m.group(1))
            if not 1 <= n <= len(passages):
                return ""
            chunk = passages[n - 1].chunk
            if char_overlap_ratio(bare, chunk.text) < MIN_OVERLAP:
                return ""
            if n not in renumber:
                renumber[n] = len(renumber) + 1
                citations.append(
                    Citation(
                        n=renumber[n],
                        source=chunk.source,
                        title=chunk.title,
                        date=chunk.date,
                        chunk_id=chunk.chunk_id,
                        text=chunk.text,
                        quote=best_quote(bare, chunk.text),
                    )
                )
            return f" [{renumber[n]}]"

        out_sentences.append(MARKER_RE.sub(fix, sentence).strip())
    text = " ".join(s for s in out_sentences if s)
    return re.sub(r"\s+", " ", text).strip(), citations


def quote_in_passage(quote: str, passage: str) -> bool:
    return match_form(quote) in match_form(passage)
