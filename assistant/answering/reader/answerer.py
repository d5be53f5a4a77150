"""Offline answerer driven by the learned reader: cite the sentences it says answer.

The reader scores every sentence of the top retrieved passages (each read in windows of
the size it was trained on). Sentences are ranked by the reader's logit plus a learned
multiple of the earlier answerer's score; the best is cited, with the runner-up when it is
its neighbour, and with the lead-in of the list it is an item of. Support is the learned answerability model's probability, compared with the
threshold chosen on validation collections. The hand-written checks only refuse on their
own when ``reader.json`` lists them (measured to help on every held-out collection).
"""

from __future__ import annotations

import re

from assistant.answering.extractive import Evidence, ExtractiveResult
from assistant.answering.reader.answerability import check_features, features, fired_checks
from assistant.answering.reader.runtime import Reader, Reading, SentenceScore
from assistant.answering.subjects import opening_back_reference, referent
from index.normalize import match_form
from index.types import ScoredChunk

# A list item ("a) …", "2. …", "- …") means little without the sentence that opens its list.
LIST_ITEM_RE = re.compile(r"^\s*(?:[a-zđ]\)|\d{1,3}[.)]\s|[-–•+*]\s)", re.I)
LEAD_IN_END = ":"


class ReaderAnswerer:
    """Picks evidence sentences from ``passages`` retrieved chunks by reader probability."""

    def __init__(self, reader: Reader, passages: int = 3, max_sentences: int = 2):
        self.reader = reader
        self.passages = passages
        self.max_sentences = max_sentences

    def read(self, question: str, retrieved: list[ScoredChunk]) -> Reading:
        top = retrieved[: self.passages]
        reading = self.reader.read(question, [(r.chunk.title, r.chunk.text) for r in top])
        reading.dense = [float(r.dense) if r.dense is not None else 0.0 for r in top]
        return reading

    def analyse(
        self, question: str, retrieved: list[ScoredChunk], checks: ExtractiveResult | None = None
    ) -> ExtractiveResult:
        """``checks``: the earlier answerer's analysis, whose scores and verdicts are inputs."""
        if not retrieved:
            return ExtractiveResult([], 0.0, ["no passages"])
        reading = self.read(question, retrieved)
        if not reading.sentences:
            return ExtractiveResult([], 0.0, ["no sentences"])
        combiner = self.reader.card.get("combiner", {})
        weight = float(combiner.get("check_score_weight", 0.0))
        ranked, values = choose(question, reading, checks, weight)
        margin = combiner.get("second_sentence_margin")
        scores = ranking_scores(ranked[:2], checks, weight)  # all compose compares
        chosen = compose(reading, ranked, scores, margin, self.max_sentences)
        best = ranked[0]
        evidence = []
        for s in chosen:
            ev = Evidence(s.text, retrieved[s.passage], s.probability, s.probability, s.passage)
            ev.position = s.sentence
            ev.flags = {"reader_logit": s.logit}
            if s.span is not None:
                ev.flags["span_start"], ev.flags["span_end"] = s.span
            evidence.append(ev)
        model = self.reader.answerability
        support = model.probability(values) if model is not None else best.probability
        # Only checks measured to help on every held-out collection may refuse on their own.
        fired = fired_checks(checks)
        blocking = [
            f"check '{c}' fired"
            for c in self.reader.card.get("blocking_checks", [])
            if fired.get(c)
        ]
        return ExtractiveResult(
            evidence=evidence,
            support=support,
            missing=[] if support >= 0.5 else ["reader: no sentence rated as answering"],
            features={"reader_probability": best.probability, **values},
            scores={match_form(s.text): s.logit for s in reading.sentences},
            blocking=blocking,
            reading=reading,
            checks=checks,
        )


def ranking_scores(
    ranked: list[SentenceScore], checks: ExtractiveResult | None, weight: float
) -> list[float]:
    """The score each sentence was ranked by: reader logit + ``weight`` x the check score."""
    check_scores = checks.scores if checks is not None else {}
    return [_ranking_score(s, check_scores, weight) for s in ranked]


def _ranking_score(s: SentenceScore, check_scores: dict[str, float], weight: float) -> float:
    return s.logit + weight * check_scores.get(match_form(s.text), 0.0)


def compose(
    reading: Reading,
    ranked: list[SentenceScore],
    scores: list[float],
    margin: float | None,
    max_sentences: int = 2,
) -> list[SentenceScore]:
    """The sentences an answer cites, passages by rank; in the best sentence's passage, its
    excerpt (it, its list or back-reference partner, an adjacent runner-up) in reading order
    first (``scores``: the ranking scores of at least the first two of ``ranked``).

    The best sentence; the sentence its list structure ties it to; and the runner-up when
    it is the best one's neighbour (a contiguous excerpt still reads as one point) or,
    with a ``margin`` fitted on validation questions (``evals.reader.combine``), when it
    scores within ``margin`` of the best: the reader's first choice is often the wrong one
    of two close candidates, and citing both holds the answer more often.
    """
    best = ranked[0]
    chosen = [best]
    partner = list_partner(reading, best) or back_reference_partner(reading, best)
    if partner is not None:
        chosen.append(partner)
    tied = list(chosen)  # read as one excerpt with the best sentence
    for s, score in zip(ranked[1:2], scores[1:2], strict=True):
        adjacent = s.passage == best.passage and abs(s.sentence - best.sentence) == 1
        close = margin is not None and score >= scores[0] - float(margin)
        if len(chosen) < max_sentences and (adjacent or close) and s not in chosen:
            chosen.append(s)
            if adjacent:
                tied.append(s)
    order = {s.passage: i for i, s in reversed(list(enumerate(chosen)))}
    # The answer leads with the best sentence's excerpt in reading order; a runner-up that
    # is not part of it follows, even when its passage has it earlier.
    return sorted(chosen, key=lambda s: (order[s.passage], s not in tied, s.sentence))


def list_partner(reading: Reading, best: SentenceScore) -> SentenceScore | None:
    """The sentence a list structure ties to ``best``: the lead-in of the list ``best`` is an
    item of (the nearest earlier sentence ending with ":" across the items between), or
    the first item after ``best`` when it is itself a lead-in."""
    text, spans = reading.texts[best.passage], reading.spans[best.passage]

    def sentence(i: int) -> str:
        return text[spans[i][0] : spans[i][1]]

    i = best.sentence
    target = None
    if LIST_ITEM_RE.match(sentence(i)):
        for j in range(i - 1, -1, -1):
            if sentence(j).rstrip().endswith(LEAD_IN_END):
                target = j
                break
            if not LIST_ITEM_RE.match(sentence(j)):
                break
    if target is None and sentence(i).rstrip().endswith(LEAD_IN_END) and i + 1 < len(spans):
        target = i + 1
    if target is None:
        return None
    scored = {s.sentence: s for s in reading.sentences if s.passage == best.passage}
    return scored.get(target)


def back_reference_partner(reading: Reading, best: SentenceScore) -> SentenceScore | None:
    """The sentence before ``best`` when ``best`` opens with a back reference («Tỉnh sẽ …»)
    that the passage does not name (:mod:`assistant.answering.subjects` names it when it
    can): cited with it, the answer says what the sentence is about."""
    if best.sentence == 0:
        return None
    text, (start, end) = reading.texts[best.passage], reading.spans[best.passage][best.sentence]
    opening = opening_back_reference(text[start:end])
    if opening is None or referent(opening.head, text[:start], "", text[end:]) is not None:
        return None
    scored = {s.sentence: s for s in reading.sentences if s.passage == best.passage}
    return scored.get(best.sentence - 1)


def choose(
    question: str, reading: Reading, checks: ExtractiveResult | None, weight: float
) -> tuple[list[SentenceScore], dict[str, float]]:
    """Sentences ranked by reader logit plus ``weight`` x the earlier answerer's score, and
    the answerability inputs for the best of them."""
    check_scores = checks.scores if checks is not None else {}

    def key(s: SentenceScore):
        # Ties go to the better-ranked passage, then the earlier sentence.
        return (-_ranking_score(s, check_scores, weight), s.passage, s.sentence)

    ranked = sorted(reading.sentences, key=key)
    values = {
        **answerability_features(question, reading, ranked),
        **check_features(checks),
        "check_score": check_scores.get(match_form(ranked[0].text), 0.0),
    }
    return ranked, values


def answerability_features(question: str, reading: Reading, ranked: list[SentenceScore]) -> dict:
    """Inputs of the answerability model for the best-rated sentence of a reading."""
    best = ranked[0]
    return features(
        question,
        best.logit,
        ranked[1].logit if len(ranked) > 1 else None,
        reading.passage_logits[best.passage],
        reading.window(best),
        reading.passage(best.passage),
        best.span_logit,
        reading.dense[best.passage] if reading.dense else None,
        best.boundary,
        max(s.boundary for s in ranked),
    )


def answer_span(ev: Evidence) -> str | None:
    """The answer words the reader marked inside an evidence sentence, if any."""
    if "span_start" not in ev.flags:
        return None
    s, e = int(ev.flags["span_start"]), int(ev.flags["span_end"])
    span = ev.sentence[s:e].strip(" ,;:")
    return span or None
