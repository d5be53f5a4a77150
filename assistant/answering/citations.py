"""Server-side citation checks: a marker must point to a passage that was given, and the
sentence it supports must be backed by that passage. Invalid markers are dropped.

"Backed" means three things, all measured against the passage as the model saw it
(title, date and text):

* most of the sentence's syllables occur in it (``MIN_OVERLAP``);
* a good share of its syllable bigrams — words, in Vietnamese — occur in it
  (``MIN_BIGRAM_OVERLAP``). Syllables alone are too weak: common syllables ("của",
  "chuyển đổi số", "các bộ") let about one sentence in ten "match" a passage from an
  unrelated article; with the bigram check it is under one in fifty;
* every number it states occurs in it, so "tăng 30% [1]" cannot cite a passage that
  says 28%;
* it negates what the passage's closest sentence states, or states what that sentence
  negates, as often as that sentence does ("không", "chưa", "chẳng"…): «không có … [1]»
  cannot cite a passage saying «có …»;
* every web address it writes occurs in the passage.

Sentences are found for verification without relying on capital letters or quotes
(:func:`claims`): «… vận hành [1]. lưu ý: hãy tải ứng dụng …» is two sentences, and the
second, carrying no marker of its own, is removed; so is any clause of a cited sentence,
or text after its marker, that the cited passage does not back. Kept sentences leave as
plain text (:func:`assistant.answering.plain_text.plain_text`: no images, HTML or script links).

A sentence left without any valid marker is removed from the answer: every claim that
reaches a user cites the passage it came from. Extractive answers copy sentences
verbatim and always pass; the checks exist for model-written sentences.
:class:`VerifiedStream` applies the same checks to a streamed answer sentence by
sentence, so the streamed text and the final answer agree.
"""

from __future__ import annotations

import re
from collections import Counter

from assistant.answering.answer import Citation
from assistant.answering.plain_text import plain_text
from index.chunker import split_sentences
from index.normalize import char_overlap_ratio, syllables
from index.types import Chunk, ScoredChunk

MARKER_RE = re.compile(r"\s?\[(\d{1,3})\]")
# "[1, 2]", "[1,3]" and "[1; 2]" are written by models despite the prompt: read them as [1][2].
_MULTI_MARKER_RE = re.compile(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})+)\]")
_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*")
MIN_OVERLAP = 0.5
MIN_BIGRAM_OVERLAP = 0.3


def best_quote(sentence: str, passage_text: str) -> str:
    """The passage sentence that best supports ``sentence`` (verbatim from the passage)."""
    sentences = split_sentences(passage_text) or [passage_text]
    return max(sentences, key=lambda s: (char_overlap_ratio(sentence, s), -len(s)))


def _syllables(text: str) -> list[str]:
    """Match-form syllables with numbers read as values ("08" and "8" are the same syllable)."""
    return [str(int(s)) if s.isdigit() else s for s in syllables(text)]


def overlap_ratios(sentence: str, passage: str) -> tuple[float, float]:
    """Shares of the sentence's syllables, and of its adjacent-syllable pairs, found in the passage."""
    sent, ps = _syllables(sentence), _syllables(passage)
    if not sent:
        return 0.0, 0.0
    vocab = set(ps)
    unigram = sum(1 for s in sent if s in vocab) / len(sent)
    pairs = list(zip(sent, sent[1:], strict=False))
    if not pairs:  # a one-syllable sentence: the unigram check is all there is
        return unigram, unigram
    pair_vocab = set(zip(ps, ps[1:], strict=False))
    return unigram, sum(1 for p in pairs if p in pair_vocab) / len(pairs)


def _number_values(token: str) -> tuple[int, set[int]]:
    """A number token read whole and part by part: "20.000" is 20000 and {20, 0}; "08" is 8."""
    parts = re.split(r"[.,]", token)
    return int("".join(parts)), {int(p) for p in parts}


def _numbers_backed(sentence: str, context: str) -> bool:
    """Every number in the sentence is one the context states ("08/5" matches "8/5", "20000" "20.000")."""
    known: set[int] = set()
    for token in _NUMBER_RE.findall(context):
        whole, parts = _number_values(token)
        known |= {whole} | parts
    for token in _NUMBER_RE.findall(sentence):
        whole, parts = _number_values(token)
        if whole not in known and not (len(parts) > 1 and parts <= known):
            return False
    return True


# Syllables that negate what follows; the pairs are words that merely contain one
# ("không gian" space, "hàng không" aviation, "không chỉ … mà còn" not only).
NEGATIONS = frozenset({"không", "chưa", "chẳng", "chả", "đừng", "chớ"})
_NOT_NEGATION = frozenset(
    {
        ("không", "gian"),
        ("không", "khí"),
        ("hàng", "không"),
        ("không", "quân"),
        ("không", "lưu"),
        ("không", "phận"),
        ("không", "trung"),
        ("không", "ảnh"),
        ("không", "dây"),
        ("không", "chỉ"),
        ("không", "những"),
        ("chẳng", "hạn"),
    }
)
_URL_RE = re.compile(r"(?:https?://|www\.)[^\s<>\]\[)]+", re.I)
_CLAIM_END_RE = re.compile(r"(?<=[.!?…;])[\"”’»)]*\s+")


def _is_negation(words: list[str], i: int) -> bool:
    if words[i] not in NEGATIONS:
        return False
    before = (words[i - 1], words[i]) if i else None
    after = (words[i], words[i + 1]) if i + 1 < len(words) else None
    return before not in _NOT_NEGATION and after not in _NOT_NEGATION


def negation_kept(claim: str, closest: str) -> bool:
    """The claim negates only what ``closest`` (the passage sentence it restates) negates,
    and drops none of its negations: «không có X» needs «không có» there, and «A có X»
    cannot restate «A không có X»."""
    cw, pw = _syllables(claim), _syllables(closest)
    passage_pairs = Counter(zip(pw, pw[1:], strict=False))
    claim_pairs = Counter(zip(cw, cw[1:], strict=False))
    for i in range(len(cw)):
        if _is_negation(cw, i):
            nxt = cw[i + 1] if i + 1 < len(cw) else None
            if (nxt and (cw[i], nxt) not in passage_pairs) or (not nxt and cw[i] not in pw):
                return False
    for i in range(1, len(pw) - 1):
        joined = (pw[i - 1], pw[i + 1])  # the words around a negation, with it taken out
        if _is_negation(pw, i) and claim_pairs[joined] > passage_pairs[joined]:
            return False
    return True


def _links_backed(sentence: str, context: str) -> bool:
    """Every web address the sentence writes is one the passage gives."""
    known = context.lower()
    return all(url.rstrip(".,;:!?").lower() in known for url in _URL_RE.findall(sentence))


def supports(sentence: str, chunk: Chunk) -> bool:
    """Whether ``chunk`` (as shown to the model: title, date, text) backs ``sentence``."""
    context = " ".join(x for x in (chunk.title, chunk.date or "", chunk.text) if x)
    unigram, bigram = overlap_ratios(sentence, context)
    if unigram < MIN_OVERLAP or bigram < MIN_BIGRAM_OVERLAP:
        return False
    if not _numbers_backed(sentence, context) or not _links_backed(sentence, context):
        return False
    return negation_kept(sentence, best_quote(sentence, context))


def claims(sentence: str) -> list[str]:
    """The parts of a cited sentence that must each be backed: its clauses split at any
    sentence end (whatever case follows), and the text after its last marker."""
    parts = [MARKER_RE.sub("", p).strip() for p in _CLAIM_END_RE.split(sentence)]
    last = list(MARKER_RE.finditer(sentence))
    if last:
        parts.append(sentence[last[-1].end() :])
    return [p for p in parts if _syllables(p)]


def backed(sentence: str, chunk: Chunk) -> bool:
    """The whole sentence and every one of its claims are backed by ``chunk``."""
    bare = MARKER_RE.sub("", sentence).strip()
    return supports(bare, chunk) and all(supports(c, chunk) for c in claims(sentence))


def _expand_markers(text: str) -> str:
    return _MULTI_MARKER_RE.sub(
        lambda m: "".join(f"[{n}]" for n in re.split(r"\s*[,;]\s*", m.group(1))), text
    )


def _answer_sentences(text: str) -> list[str]:
    """Split an answer into sentences, keeping each sentence's trailing markers (and the
    stop after them) with it; text after a marker group and a stop is a new sentence
    whatever its case."""
    out: list[str] = []
    for piece in re.split(r"(?:(?<=\])|(?<=\][.!?…]))\s+(?!\[)", text.strip()):
        m = re.search(r"(?:\s*\[\d{1,3}\])+\s*[.!?…]?$", piece)
        markers = m.group(0) if m else ""
        body = piece[: m.start()] if m else piece
        sentences = split_sentences(body) or [body]
        sentences[-1] = sentences[-1] + markers
        out.extend(s for s in sentences if s.strip())
    return out


def verify_citations(answer: str, passages: list[ScoredChunk]) -> tuple[str, list[Citation]]:
    """Keep markers that point to a given passage which backs their sentence.

    Returns the answer with invalid (and repeated) markers removed, the rest renumbered
    1..n in order of first appearance, and every sentence left without a marker removed;
    and one citation per surviving marker.
    """
    renumber: dict[int, int] = {}
    citations: list[Citation] = []
    out_sentences: list[str] = []
    for sentence in _answer_sentences(_expand_markers(answer)):
        sentence = plain_text(sentence)
        bare = MARKER_RE.sub("", sentence).strip()
        kept: set[int] = set()

        def fix(m: re.Match, bare=bare, kept=kept, sentence=sentence) -> str:
            n = int(m.group(1))
            if n in kept or not 1 <= n <= len(passages):
                return ""
            chunk = passages[n - 1].chunk
            if not backed(sentence, chunk):
                return ""
            kept.add(n)
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
                        url=chunk.url,
                    )
                )
            return f" [{renumber[n]}]"

        checked = MARKER_RE.sub(fix, sentence).strip()
        if kept:  # an uncited (or wrongly cited) claim never reaches the user
            out_sentences.append(checked)
    text = " ".join(s for s in out_sentences if s)
    return re.sub(r"\s+", " ", text).strip(), citations


# Where a streamed answer's complete sentences end: a marker group, then a space and
# something other than another marker.
_SENTENCE_END_RE = re.compile(r"\]\s*[.!?…]?(?=\s+[^\s\[])")


class VerifiedStream:
    """Verifies a streamed answer sentence by sentence and yields only what passed.

    Tokens are buffered until a sentence is complete (its markers are followed by more
    text); the verified form of the answer so far is computed and its new part emitted.
    Verifying a longer prefix never changes the verified form of a shorter one, so the
    pieces concatenate to the final answer; :meth:`finish` says when it does not (then
    the caller resets the display to the final text).
    """

    def __init__(self, passages: list[ScoredChunk]):
        self.passages = passages
        self.raw = ""
        self.emitted = ""

    def feed(self, token: str) -> str:
        """The newly verified text after ``token`` ('' while a sentence is still open)."""
        self.raw += token
        ends = list(_SENTENCE_END_RE.finditer(self.raw))
        if not ends:
            return ""
        text, _ = verify_citations(self.raw[: ends[-1].end()], self.passages)
        return self._advance(text)

    def _advance(self, text: str) -> str:
        if not text.startswith(self.emitted):
            return ""  # cannot happen for well-formed prefixes; finish() resets if it does
        new = text[len(self.emitted) :]
        self.emitted = text
        return new

    def finish(self) -> tuple[str, list[Citation], str | None]:
        """(verified answer, citations, what is left to stream) for the whole answer.

        What is left is None when the text streamed so far is not a prefix of the answer:
        the caller must then reset the display and send the answer whole.
        """
        text, citations = verify_citations(self.raw, self.passages)
        if not text.startswith(self.emitted):
            return text, citations, None
        rest = text[len(self.emitted) :]
        self.emitted = text
        return text, citations, rest
