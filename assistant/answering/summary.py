"""Short extractive summaries for "Tóm tắt bài viết về Nam Định".

A summary request names an article by its topic and asks for no single fact, so the
sentence scorer has nothing to match. The summary is the article's lead sentence (news
puts the gist first) and the sentences closest to the article's idf-weighted centroid
(centroid summarisation, Radev et al. 2004), without near-repeats, in article order, each
citing its own passage. Nothing is written that the article does not say.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from assistant.answering.extractive import Evidence, content_terms
from index.chunker import split_sentences
from index.normalize import fold, match_form
from index.types import Chunk, ScoredChunk

# On the folded, lower-cased question. "tóm tắt", "tóm lược", "ý chính", "nội dung chính",
# "khái quát", and "bài viết về X nói gì?"; English "summarize".
_REQUEST_RE = re.compile(
    r"^(?:(?:hay|vui long|xin|cho (?:toi|minh|em) biet) )?"
    r"(?:tom tat|tom luoc|khai quat|(?:neu )?(?:cac |nhung )?(?:y|noi dung|diem) chinh(?: cua)?"
    r"|summari[sz]e|give me a summary of|summary of)\b(?P<topic>.*)$"
)
_SAYS_RE = re.compile(r"^(?P<topic>(?:bai|tin) .+?) (?:noi ve gi|noi gi|viet ve gi|viet gi)\W*$")
# What only points at "the article" in front of its topic: "nội dung bài viết về …".
_POINTER_RE = re.compile(
    r"^(?:(?:lai|giup|ngan gon|ngan|giup toi) )*"
    r"(?:(?:noi dung|y chinh) (?:cua )?)?(?:(?:cac|nhung) )?"
    r"(?:(?:bai viet|bai bao|bai|tin tuc|tin|van ban|the article|article)(?: nay| do)? )?"
    r"(?:(?:noi |viet )?(?:ve|cua|about|on) )?"
)

_SENTENCE_END_RE = re.compile(r"[.!?…;:][\"”’»)]*\s*$")
LEAD_WORDS = 8  # a lead shorter than this is a dateline or a caption, not the gist
MAX_WORDS = 60  # key sentences longer than this read as quotations, not a summary
TOPIC_COVERAGE = 0.75  # share (idf-weighted) of the topic's terms the article must hold
REPEAT = 0.5  # cosine above which a key sentence repeats one already chosen


@dataclass
class SummaryRequest:
    topic: str  # the question's words after "tóm tắt bài viết về", as typed; may be ""


def summary_request(question: str) -> SummaryRequest | None:
    """The topic of a summary request, or None when the question asks something else."""
    words = question.split()
    folded_words = [fold(match_form(w)) for w in words]
    folded = " ".join(folded_words)
    m = _REQUEST_RE.match(folded) or _SAYS_RE.match(folded)
    if m is None:
        return None
    rest = m.group("topic").strip(" ?.!:,")
    rest = (rest + " ")[_POINTER_RE.match(rest + " ").end() :].strip(" ?.!:,")
    if not rest:
        return SummaryRequest("")
    # Map the folded topic back to the words as typed (accents matter for retrieval).
    n = len(rest.split())
    for start in range(len(folded_words) - n + 1):
        if " ".join(folded_words[start : start + n]).strip(" ?.!:,") == rest:
            return SummaryRequest(" ".join(words[start : start + n]).strip(" ?.!:,"))
    return SummaryRequest(rest)


def topic_terms(topic: str) -> list[str]:
    return list(dict.fromkeys(content_terms(topic, folded=True)))


def topic_coverage(topic: str, chunks: list[Chunk], idf: Callable[[str], float]) -> float:
    """How much of the topic the article (title and text) holds: the idf-weighted share of
    its terms, averaged with the share of its word pairs ("Bắc Ninh" is not "Quảng Ninh")."""
    terms = content_terms(topic, folded=True)
    if not terms:
        return 0.0
    words = content_terms(" ".join([chunks[0].title, *[c.text for c in chunks]]), True)
    article = set(words)
    total = sum(idf(t) for t in set(terms)) or 1.0
    single = sum(idf(t) for t in set(terms) if t in article) / total
    pairs = set(zip(terms, terms[1:], strict=False))
    if not pairs:
        return single
    held = pairs & set(zip(words, words[1:], strict=False))
    return (single + len(held) / len(pairs)) / 2


def choose_article(
    topic: str,
    retrieved: list[ScoredChunk],
    chunks_of: Callable[[str], list[Chunk]],
    idf: Callable[[str], float],
) -> tuple[list[Chunk], float]:
    """The article the request means, among those retrieved, and its topic coverage.

    The one holding most of the topic's terms; then the one whose title holds most; then
    the one with the best passages.
    """
    terms = set(topic_terms(topic))
    score: dict[str, float] = {}
    for r in retrieved:
        score[r.chunk.source] = score.get(r.chunk.source, 0.0) + r.score
    best: tuple[tuple[float, float, float], list[Chunk]] | None = None
    for source in score:
        chunks = chunks_of(source)
        if not chunks:
            continue
        title = set(content_terms(chunks[0].title, True))
        key = (
            topic_coverage(topic, chunks, idf),
            len(terms & title) / len(terms) if terms else 0.0,
            score[source],
        )
        if best is None or key > best[0]:
            best = (key, chunks)
    return (best[1], best[0][0]) if best else ([], 0.0)


def _vector(sentence: str, idf: Callable[[str], float]) -> dict[str, float]:
    counts = Counter(content_terms(sentence, folded=True))
    return {t: c * idf(t) for t, c in counts.items()}


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    dot = sum(v * b.get(t, 0.0) for t, v in a.items())
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb) if na and nb else 0.0


def summarize(
    chunks: list[Chunk], idf: Callable[[str], float], topic: str = "", sentences: int = 3
) -> list[Evidence]:
    """The lead and the ``sentences - 1`` most central other sentences, in article order.

    A sentence naming the topic counts as more central: asked about the article "về Tuyên
    Quang", the summary should say what it says about Tuyên Quang.
    """
    found: list[tuple[str, Chunk, int]] = []
    for chunk in chunks:
        for si, sent in enumerate(split_sentences(chunk.text)):
            # Headings ("Kỳ I: Dấu ấn …") and captions end without a full stop.
            if len(sent.split()) >= LEAD_WORDS and _SENTENCE_END_RE.search(sent):
                found.append((sent, chunk, si))
    if not found:
        return []
    vectors = [_vector(s, idf) for s, _, _ in found]
    centroid: dict[str, float] = {}
    for vec in vectors:
        for t, v in vec.items():
            centroid[t] = centroid.get(t, 0.0) + v / len(vectors)
    terms = topic_terms(topic)
    weight = sum(idf(t) for t in terms) or 1.0
    central = [
        _cosine(v, centroid) + sum(idf(t) for t in terms if t in v) / weight for v in vectors
    ]
    chosen = [0]  # the lead
    order = sorted(range(1, len(found)), key=lambda i: (-central[i], i))
    for i in order:
        if len(chosen) >= sentences:
            break
        if len(found[i][0].split()) > MAX_WORDS:
            continue
        if any(_cosine(vectors[i], vectors[j]) > REPEAT for j in chosen):
            continue
        chosen.append(i)
    out = []
    for i in sorted(chosen):
        sent, chunk, si = found[i]
        ev = Evidence(sent, ScoredChunk(chunk, 1.0), central[i], 1.0, 0)
        ev.position = si
        out.append(ev)
    return out
