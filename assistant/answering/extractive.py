"""Offline answerer: pick the passage sentences that answer the question, cite each one.

Deterministic and unable to invent anything: every answer sentence is copied from a
retrieved passage and followed by its marker. It also decides when to refuse: a
question whose key terms, numbers, names or expected answer type are not supported
by any retrieved sentence is refused rather than answered with a neighbouring fact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from assistant.answering import slots
from assistant.answering.abbreviations import (
    abbreviated,
    abbreviations_spelled_out,
    spell_out,
    with_table_spelling,
)
from assistant.answering.slots import (
    NAME_RUN_RE,
    YEAR_RE,
    answer_type,
    clause_conflict,
    conflicts,
    docnum_date_conflict,
    has_slot,
    ordinals,
)
from index.chunker import split_sentences
from index.lexical import LexicalIndex
from index.normalize import canonical_tones, fold, has_diacritics, match_form, strip_marks
from index.types import ScoredChunk

# Question words and function words that carry no content for matching.
STOPWORDS = frozenset(
    """
    gì nào ai đâu sao bao nhiêu mấy không có là của và các những được đã đang sẽ thì mà với
    cho trong tại theo về để này đó ấy như thế khi bởi vì do từ đến ra vào lên một hai việc
    hãy biết xin vậy còn nêu kể tên cụ thể hả nhỉ à ạ ở bị rằng người nó họ what which who
    when where how many much is are was were the a an of in on to for does did
    """.split()
)

_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*")

# The expected answer type ("number", "date", "day", "year", "docnum", "person").
expected_type = answer_type


@dataclass
class Evidence:
    sentence: str
    passage: ScoredChunk
    score: float
    coverage: float
    rank: int
    reasons: list[str] = field(default_factory=list)
    flags: dict[str, float] = field(default_factory=dict)
    position: int = 0  # sentence index within its passage


@dataclass
class ExtractiveResult:
    evidence: list[Evidence]
    support: float  # best evidence score in [0, 1]
    missing: list[str]  # why the best evidence falls short (for logs and the eval report)
    features: dict[str, float] = field(default_factory=dict)  # inputs of the refusal model
    blocking: list[str] = field(default_factory=list)  # facts that rule the evidence out
    # Every scored sentence (match form) -> its score: an input of the learned reader's ranking.
    scores: dict[str, float] = field(default_factory=dict)
    reading: object | None = None  # the reader's full reading (reader answerer only)
    checks: ExtractiveResult | None = None  # the earlier answerer's analysis it was given
    reply: str | None = None  # said instead of the plain refusal (e.g. "which article?")


# Phrases that only say what kind of answer is wanted ("vào ngày nào", "là ai"); they are
# removed from the question before its content terms are matched against sentences.
QUESTION_PHRASES_RE = re.compile(
    r"\b(?:vào\s+)?(?:ngày|năm|tháng|thời\s+điểm|thời\s+gian|lúc)\s+(?:nào|bao\s+nhiêu|mấy)\b"
    r"|\b(?:khi|bao\s+giờ)\s+nào\b|\bdiễn\s+ra\b|\bđược\s+tổ\s+chức\b"
    r"|\b(?:là|do)\s+(?:ai|gì|những\s+gì|cơ\s+quan\s+nào|bộ\s+nào)\b|\b(?:thứ|số|phiên\s+bản)\s+mấy\b"
    r"|\b(?:là\s+)?(?:chữ\s+)?viết\s+tắt\s+(?:của\s+)?(?:cụm\s+từ\s+nào|từ\s+nào|gì)?"
    r"|\b(?:la\s+)?viet\s+tat\s+(?:cua\s+)?(?:cum\s+tu\s+nao|tu\s+nao|gi)?"
    r"|\bbao\s+nhiêu\b|\bnhư\s+thế\s+nào\b|\bcụm\s+từ\s+nào\b|\bcó\s+số\s+hiệu\b|\bsố\s+hiệu\b",
    re.IGNORECASE,
)
ENGLISH_WORDS = frozenset(
    """
    the of and in on to for with what which who when where how did does is was were by from
    that this at as an a many much date year law ministry province
    """.split()
)


def is_english(text: str) -> bool:
    """A question written in English (cross-lingual): lexical matching cannot help it."""
    # Document numbers and acronyms (749/QĐ-TTg, UBND) keep Vietnamese letters in English text.
    plain = " ".join(
        w for w in text.split() if not re.search(r"\d|^[A-ZĐ&/-]{2,}$", w.strip("?,.:;()"))
    )
    words = re.findall(r"[a-zA-Z]+", plain.lower())
    return (
        len(words) >= 3
        and not has_diacritics(plain)
        and sum(w in ENGLISH_WORDS for w in words) / len(words) >= 0.2
    )


def question_terms(question: str, folded: bool) -> list[str]:
    """Content terms of a question, without the words that only ask for the answer type."""
    stripped = QUESTION_PHRASES_RE.sub(" ", match_form(question))
    return content_terms(stripped, folded)


def content_terms(text: str, folded: bool) -> list[str]:
    form = match_form(text)
    if folded:
        form = fold(form)
    stop = {fold(s) for s in STOPWORDS} if folded else STOPWORDS
    return [t for t in re.findall(r"\w+", form) if t not in stop]


@lru_cache(maxsize=32)
def _folded(text: str) -> str:
    """fold() of a whole article, computed once per article."""
    return fold(text)


@lru_cache(maxsize=32)
def _cased_form(text: str, folded: bool) -> str:
    """A whole article with one tone style and its case kept (accents stripped if folded)."""
    form = canonical_tones(text)
    return strip_marks(form) if folded else form


def _tokens(text: str, folded: bool) -> set[str]:
    """Words of the text, plus the abbreviations of what it spells out ("kế hoạch và đầu tư")
    and the words of the abbreviations it uses ("CĐS" -> "chuyển đổi số")."""
    form = match_form(text)
    if folded:
        form = fold(form)
    spelled = " ".join(abbreviations_spelled_out(form, folded))
    expanded = spell_out(form, folded)
    expanded = expanded if expanded != form else ""
    return set(re.findall(r"\w+", f"{form} {spelled} {expanded}"))


def _bigrams(terms: list[str]) -> set[tuple[str, str]]:
    return set(zip(terms, terms[1:], strict=False))


_COUNTED_RE = re.compile(r"\b(?:bao nhiêu|mấy|bao nhieu|may)\s+(\w+)")
_RANK_RE = re.compile(r"\b(?:thứ|thu)\s+(?:mấy|bao nhiêu|may|bao nhieu)\b")
_NOT_A_UNIT = {"lần", "năm", "ngày", "tháng", "là", "được", "và", "của", "trong", "so", "với"}


_NOT_A_UNIT_FOLDED = {fold(w) for w in _NOT_A_UNIT}
_MONEY_RE = re.compile(r"\b(?:kinh phi|von|ngan sach|chi phi|so tien|tong muc dau tu)\b")
_AMOUNT_RE = re.compile(
    r"\d[\d.,]*\s*(?:tỷ|triệu|nghìn|ngàn|đồng|usd|vnd|ty|trieu|nghin|ngan|dong)\b"
)


def counted_unit(question: str) -> str | None:
    """The noun a how-many question counts ("bao nhiêu thủ tục" -> "thủ"); "%" for percentages.

    Vietnamese puts the counted noun right after "bao nhiêu"/"mấy" in the question and right
    after the number in the answer ("9 mô hình", "21 bộ"), so a sentence whose numbers count
    something else does not answer it.
    """
    form = match_form(question) if has_diacritics(question) else fold(match_form(question))
    if _RANK_RE.search(form):
        return "thứ" if has_diacritics(question) else "thu"
    m = _COUNTED_RE.search(form)
    if (not m or fold(m.group(1)) in _NOT_A_UNIT_FOLDED) and _MONEY_RE.search(fold(form)):
        return "money"  # "Tổng kinh phí … là bao nhiêu?" is answered by an amount
    if not m:
        return None
    unit = m.group(1)
    if fold(unit) == "phan":  # "bao nhiêu phần trăm"
        return "%"
    if fold(unit) in {fold(w) for w in _NOT_A_UNIT} or unit.isdigit():
        return None
    return unit


def has_counted(sentence_form: str, unit: str) -> bool:
    """Does the sentence (match form) count ``unit`` with a number, e.g. "hơn 20.000 thuê bao"?"""
    if unit == "%":
        return bool(re.search(r"\d\s*%|\d\s+phần trăm", sentence_form))
    if unit == "money":
        return bool(_AMOUNT_RE.search(sentence_form))
    if unit in ("thứ", "thu"):
        ordinal = r"(?:\d+|nhất|nhì|hai|ba|tư|năm|sáu|bảy|tám|chín|mười|nhat|nhi|tu|nam|sau|bay|tam|chin|muoi)"
        return bool(re.search(rf"\b{unit}\s+{ordinal}\b", sentence_form))
    return bool(re.search(rf"\d[\d.,]*\s+(?:\w+\s+)?{re.escape(unit)}\b", sentence_form))


_TITLE_WORDS = {
    "tỉnh",
    "thành",
    "phố",
    "huyện",
    "xã",
    "ông",
    "bà",
    "đồng",
    "chí",
    "thủ",
    "phó",
    "chủ",
    "giám",
    "bí",
    "thứ",
}


def place_or_person_names(names: list[str]) -> list[str]:
    """Names of places and people (not organisations), without a leading title ("Tỉnh", "Ông")."""
    # Compared without accents, so that names typed without diacritics are sorted the same.
    titles = {fold(t) for t in _TITLE_WORDS}
    out = []
    for name in names:
        words = name.split()
        if fold(match_form(words[0])) in slots.ORG_HEADS:  # the lexicon in force
            continue
        while len(words) > 2 and fold(match_form(words[0])) in titles:
            words = words[1:]
        if fold(match_form(words[0])) not in titles:
            out.append(" ".join(words))
    return out


def name_pattern(name: str) -> str:
    """A name's words as a pattern: the capitalised ones exactly ("Nam Định" is not
    "Việt Nam định hướng"), the ones the question typed in lower case in either case
    (staff type «Phó Chủ tịch thường trực» for the article's «… Thường trực»)."""
    parts = [re.escape(w) if w[:1].isupper() else f"(?i:{re.escape(w)})" for w in name.split()]
    return r"\s+".join(parts)


def query_numbers(question: str) -> set[str]:
    return set(_NUMBER_RE.findall(question))


# Capitalised words that open a sentence or a phrase without being part of a name.
_NAME_LEADERS = {
    "theo",
    "tại",
    "ngoài",
    "ở",
    "trong",
    "năm",
    "còn",
    "thế",
    "vậy",
    "và",
    "ai",
    "khi",
    "sau",
    "trước",
}


def query_names(question: str) -> list[str]:
    """Proper names in the question: runs of two or more capitalised syllables."""
    if is_english(question):
        return []
    names = []
    for m in NAME_RUN_RE.finditer(question):
        words = m.group(0).split()
        # Compare with accents: "Nam" (a place) is not "năm" (a year).
        leaders = {match_form(w) for w in _NAME_LEADERS}
        if not has_diacritics(question):
            leaders = {fold(w) for w in leaders if fold(w) != "nam"}
        while words and match_form(words[0]) in leaders:
            words = words[1:]
        if len(words) >= 2:
            names.append(" ".join(words))
    return names


@dataclass
class ScoringWeights:
    """Weights of the sentence score; fitted on the seed QA set (see evals/README.md)."""

    unigram: float = 0.45  # idf-weighted share of question terms in the sentence
    context: float = 0.5  # credit for terms found elsewhere in the passage or its title
    bigram: float = 0.25  # idf-weighted share of question bigrams in the sentence
    passage: float = 0.15  # the passage's retrieval score relative to the best one
    dense: float = 0.0  # closeness of the sentence embedding to the best sentence's
    dense_scale: float = 0.05  # cosine gap at which dense closeness reaches 0
    missing_number: float = 0.5
    number_elsewhere: float = 0.85  # the number is in the passage, not next to the sentence
    missing_name_passage: float = 0.5
    missing_name_sentence: float = 0.7
    missing_type: float = 0.7
    restates_question: float = 0.8
    conflict: float = 0.45  # the evidence states a detail of the question otherwise


@dataclass
class _Question:
    """The question as the sentence checks read it (computed once per analyse call)."""

    text: str  # the question, table spellings applied
    folded: bool  # matching without diacritics (an accentless question)
    uni_w: dict[str, float]  # content term -> idf
    uni_total: float
    bi_w: dict[tuple[str, str], float]  # term bigram -> idf
    bi_total: float
    want: str | None  # expected answer type
    unit: str | None  # what a how-many question counts
    numbers: set[str]
    version_years: set[str]  # years naming a document version, not a fact to find
    names: list[str]
    name_variants: list[list[str]]  # per name: its spellings (abbreviated, spelled out)
    form: str  # match form
    slot_form: str  # match form, folded when matching is


@dataclass
class _Passage:
    """One retrieved passage as the sentence checks read it (computed once per passage)."""

    passage: ScoredChunk
    rank: int
    relative_score: float  # retrieval score relative to the best passage's
    context: set[str]  # tokens of the passage and its title
    article_form: str  # match form of title and whole article
    meta_nums: set[str]  # numbers in the title and date
    name_keys: list[str]  # per question name: the spelling the article uses
    absent: list[str]  # question names the article never mentions
    sentences: list[str]
    passage_nums: set[str]


class ExtractiveAnswerer:
    """Scores sentences of the retrieved passages against the question."""

    def __init__(
        self,
        lexical: LexicalIndex,
        max_sentences: int = 2,
        passages: int = 5,
        sentence_similarity=None,
        weights: ScoringWeights | None = None,
        article_form=None,
        article_raw=None,
        check_names: bool = True,
    ):
        self.lexical = lexical
        self.article_form = article_form  # source -> match form of the whole article (cached)
        self.article_raw = article_raw  # source -> the whole article text as written
        self.check_names = (
            check_names  # off for cross-lingual questions: names are spelled otherwise
        )
        self.sentence_similarity = sentence_similarity  # (sentences) -> cosines to the query
        self.w = weights or ScoringWeights()
        self.max_sentences = max_sentences
        self.passages = passages

    def _is_focus(self, name_key: str, source: str) -> bool:
        """A name the article mentions only in places (not its running topic) must be near the answer."""
        if self.article_form is None:
            return True
        text = self.article_form(source)
        paragraphs = max(1, len(text) // 1200)
        return text.count(name_key) < max(2, paragraphs // 2)

    def _extend_name(self, name: str, question: str) -> str:
        """Grow a capitalised name with the lower-case syllables the corpus keeps with it.

        "Bộ Tài" in "giao Bộ Tài chính nhiệm vụ gì" becomes "Bộ Tài chính", because the
        articles contain "Bộ Tài chính" but not "Bộ Tài chính nhiệm".
        """
        words = question.split()
        head = name.split()
        for i in range(len(words) - len(head) + 1):
            if [w.strip(",.?;:") for w in words[i : i + len(head)]] != head:
                continue
            best = name
            for j in range(i + len(head) + 1, min(len(words), i + len(head) + 4) + 1):
                candidate = " ".join(w.strip(",.?;:") for w in words[i:j])
                if self.lexical.phrase_count(candidate) == 0:
                    break
                best = candidate
            return best
        return name

    def _article_form_of(self, chunk) -> str:
        """Match form of the chunk's whole article (the chunk alone without the cache)."""
        if self.article_form is not None:
            return self.article_form(chunk.source)
        return match_form(chunk.text)

    @staticmethod
    def _answers(clause: str, want: str, unit: str | None, q_nums: set[str], question: str) -> bool:
        """Does a clause (match form) hold a fact of the asked type?"""
        if want == "number":
            if unit:
                return has_counted(clause, unit)
            return bool(set(_NUMBER_RE.findall(clause)) - q_nums)
        return has_slot(want, clause, clause, question)

    def _idf(self, term: str, folded: bool) -> float:
        return self.lexical.idf(term, "folded" if folded else "accented")

    def analyse(
        self, question: str, retrieved: list[ScoredChunk], accentless: bool
    ) -> ExtractiveResult:
        """Score every sentence of the top passages, keep the best and its close companions.

        The steps below are kept apart so each check (numbers, names, answer type,
        conflicts) reads on its own; their penalties multiply in the order written here.
        """
        folded = accentless
        if not folded:  # folded matching already equates "cds" with "CĐS"
            question = with_table_spelling(question)
        q_terms = question_terms(question, folded) or content_terms(question, folded)
        if not q_terms or not retrieved:
            return ExtractiveResult([], 0.0, ["no content terms" if not q_terms else "no passages"])
        q = self._read_question(question, q_terms, folded)
        evidence_ordinals = self._evidence_ordinals(retrieved, folded)
        candidates = self._candidates(q, retrieved, evidence_ordinals)
        if not candidates:
            return ExtractiveResult([], 0.0, ["no sentences"])
        self._rerank(q, candidates)
        best = candidates[0]
        blocking = self._blocking(q, best)
        return ExtractiveResult(
            evidence=self._choose(q, candidates),
            support=best.score,
            missing=best.reasons,
            features=self._features(best, question, retrieved, q.uni_w, folded),
            blocking=blocking,
            scores={match_form(e.sentence): e.score for e in candidates},
        )

    def _read_question(self, question: str, q_terms: list[str], folded: bool) -> _Question:
        """Everything the sentence checks need from the question, computed once per question."""
        uni_w = {t: self._idf(t, folded) for t in set(q_terms)}
        bi_w = {b: self._idf(f"{b[0]}_{b[1]}", folded) for b in _bigrams(q_terms)}
        want = expected_type(question)
        unit = counted_unit(question) if want == "number" else None
        if unit and folded:
            unit = fold(unit)
        names = [
            n if place_or_person_names([n]) else self._extend_name(n, question)
            for n in (query_names(question) if self.check_names else [])
        ]
        name_variants = []
        for n in names:
            key = fold(match_form(n)) if folded else match_form(n)
            variants = [key, spell_out(key, folded), *abbreviated(key, folded)]
            name_variants.append(list(dict.fromkeys(variants)))
        q_form = match_form(question)
        return _Question(
            text=question,
            folded=folded,
            uni_w=uni_w,
            uni_total=sum(uni_w.values()) or 1.0,
            bi_w=bi_w,
            bi_total=sum(bi_w.values()),
            want=want,
            unit=unit,
            numbers=query_numbers(question),
            version_years=slots.document_years(question),
            names=names,
            name_variants=name_variants,
            form=q_form,
            slot_form=fold(q_form) if folded else q_form,
        )

    def _evidence_ordinals(self, retrieved: list[ScoredChunk], folded: bool) -> dict[str, set[int]]:
        """Ordinals ("phiên họp thứ nhất") stated by any retrieved article.

        They are checked against every retrieved article: two reports of one event may
        differ in which of them states it.
        """
        first_chunk = {}
        for p in retrieved[: self.passages]:
            first_chunk.setdefault(p.chunk.source, p.chunk)
        evidence_ordinals: dict[str, set[int]] = {}
        for chunk in first_chunk.values():
            text = match_form(chunk.title) + " " + self._article_form_of(chunk)
            for head, values in ordinals(_folded(text) if folded else text).items():
                evidence_ordinals.setdefault(head, set()).update(values)
        return evidence_ordinals

    def _candidates(
        self,
        q: _Question,
        retrieved: list[ScoredChunk],
        evidence_ordinals: dict[str, set[int]],
    ) -> list[Evidence]:
        """One scored Evidence per distinct sentence (15+ characters) of the top passages."""
        seen: set[str] = set()
        candidates: list[Evidence] = []
        top = retrieved[0].score or 1.0
        for rank, passage in enumerate(retrieved[: self.passages]):
            view = self._view_passage(q, passage, rank, top)
            for si, sent in enumerate(view.sentences):
                key = match_form(sent)
                if key in seen or len(sent) < 15:
                    continue
                seen.add(key)
                candidates.append(self._score_sentence(q, view, si, evidence_ordinals))
        return candidates

    def _view_passage(self, q: _Question, passage: ScoredChunk, rank: int, top: float) -> _Passage:
        """What the sentence checks read from a passage and its article, computed once."""
        context = _tokens(passage.chunk.title + " " + passage.chunk.text, q.folded)
        chunk = passage.chunk
        article_form = match_form(chunk.title) + " " + self._article_form_of(chunk)
        if q.folded:
            article_form = _folded(article_form)
        meta_nums = set(_NUMBER_RE.findall(f"{chunk.title} {chunk.date or ''}".replace("-", " ")))
        meta_nums |= {n.lstrip("0") for n in meta_nums}
        # A name counts as present in its own spelling or spelled out ("Bộ KH&ĐT").
        name_keys = [
            next((v for v in variants if v in article_form), variants[0])
            for variants in q.name_variants
        ]
        absent = [
            n
            for n, variants in zip(q.names, q.name_variants, strict=True)
            if not any(v in article_form for v in variants)
        ]
        return _Passage(
            passage=passage,
            rank=rank,
            relative_score=passage.score / top,
            context=context,
            article_form=article_form,
            meta_nums=meta_nums,
            name_keys=name_keys,
            absent=absent,
            sentences=split_sentences(chunk.text),
            passage_nums=set(_NUMBER_RE.findall(chunk.text)) | meta_nums,
        )

    def _score_sentence(
        self, q: _Question, view: _Passage, si: int, evidence_ordinals: dict[str, set[int]]
    ) -> Evidence:
        """Match score of one sentence, then each check's penalty in turn, with its reasons."""
        w = self.w
        sent = view.sentences[si]
        key = match_form(sent)
        toks = _tokens(sent, q.folded)
        hit = sum(v for t, v in q.uni_w.items() if t in toks)
        ctx = sum(v for t, v in q.uni_w.items() if t not in toks and t in view.context)
        coverage = (hit + w.context * ctx) / q.uni_total
        sent_bi = _bigrams(content_terms(sent, q.folded))
        bigram = (
            sum(v for b, v in q.bi_w.items() if b in sent_bi) / q.bi_total
            if q.bi_total
            else coverage
        )
        score = (w.unigram * coverage + w.bigram * bigram + w.passage * view.relative_score) / (
            w.unigram + w.bigram + w.passage
        )
        reasons: list[str] = []
        window = " ".join(view.sentences[max(0, si - 1) : si + 1])
        missing_nums, elsewhere = self._missing_numbers(q, view, window)
        if missing_nums:
            if missing_nums <= elsewhere:  # stated earlier in the passage or article
                score *= w.number_elsewhere
            else:
                score *= w.missing_number
                reasons.append(f"numbers {sorted(missing_nums)} absent")
        score *= self._name_factor(q, view, window, reasons)
        slot_form = fold(key) if q.folded else key
        score *= self._type_factor(q, sent, slot_form, reasons)
        conflicting = self._conflicts(q, view, window, slot_form, evidence_ordinals)
        if conflicting:
            score *= w.conflict
            reasons.extend(conflicting)
        if key and key in q.form:
            score *= w.restates_question
        ev = Evidence(sent, view.passage, score, coverage, view.rank, reasons)
        ev.position = si
        ev.flags = {
            "number_missing": float(bool(missing_nums - elsewhere)),
            "name_missing": float(bool(view.absent)),
            "type_missing": float(any(r.startswith("no ") for r in reasons)),
            "conflict": float(bool(conflicting)),
            "sentence_coverage": hit / q.uni_total,
            "bigram_coverage": bigram,
        }
        return ev

    @staticmethod
    def _missing_numbers(q: _Question, view: _Passage, window: str) -> tuple[set[str], set[str]]:
        """Question numbers absent from the sentence and the one before it, and those of
        them the passage or article states elsewhere (a milder penalty)."""
        window_nums = set(_NUMBER_RE.findall(window))
        window_nums |= view.meta_nums | {n.lstrip("0") for n in window_nums}
        missing_nums = {
            n
            for n in q.numbers - q.version_years
            if n not in window_nums and n.lstrip("0") not in window_nums
        }
        # A year the article states elsewhere is usually the frame of a whole list
        # ("Về kế hoạch CĐS năm 2022, … Bộ X …"), not a fact the sentence lacks.
        elsewhere = view.passage_nums | {
            n for n in missing_nums if YEAR_RE.fullmatch(n) and n in view.article_form
        }
        return missing_nums, elsewhere

    def _name_factor(self, q: _Question, view: _Passage, window: str, reasons: list[str]) -> float:
        """Penalty for a question name absent from the article, or (a focus name) from the
        sentence and the one before it; 1.0 when the names are there."""
        if view.absent:
            reasons.append(f"names {view.absent} absent from the article")
            return self.w.missing_name_passage
        window_form = match_form(window)
        if q.folded:
            window_form = fold(window_form)
        if any(
            not any(v in window_form for v in variants)
            and self._is_focus(k, view.passage.chunk.source)
            for k, variants in zip(view.name_keys, q.name_variants, strict=True)
        ):
            return self.w.missing_name_sentence
        return 1.0

    def _type_factor(self, q: _Question, sent: str, slot_form: str, reasons: list[str]) -> float:
        """Penalty for a sentence without a fact of the expected type; 1.0 when it has one."""
        want = q.want
        if want == "number" and not (set(_NUMBER_RE.findall(sent)) - q.numbers):
            reasons.append("no new number for a how-many question")
            return self.w.missing_type
        if want == "number" and q.unit and not has_counted(slot_form, q.unit):
            reasons.append(f"no number of '{q.unit}'")
            return self.w.missing_type
        if want not in (None, "number") and not has_slot(want, sent, slot_form, q.slot_form):
            reasons.append(f"no {want} for the question")
            return self.w.missing_type
        return 1.0

    def _conflicts(
        self,
        q: _Question,
        view: _Passage,
        window: str,
        slot_form: str,
        evidence_ordinals: dict[str, set[int]],
    ) -> list[str]:
        """Details of the question the evidence states otherwise (dates, ordinals, people,
        a clause answering a different subject)."""
        # Not the publication date: it states nothing the question could conflict with.
        window_form = match_form(window + f" {view.passage.chunk.title}")
        if q.folded:
            window_form = fold(window_form)
        want = q.want
        conflicting = conflicts(
            q.slot_form,
            slot_form,
            window_form,
            evidence_ordinals,
            person=want == "person" and self.check_names,
        )
        dated = docnum_date_conflict(q.slot_form, slot_form, want or "")
        conflicting += [dated] if dated else []
        if want is not None:
            split = clause_conflict(
                q.slot_form,
                slot_form,
                lambda clause: self._answers(clause, want, q.unit, q.numbers, q.slot_form),
            )
            conflicting += [split] if split else []
        return conflicting

    def _rerank(self, q: _Question, candidates: list[Evidence]) -> None:
        """Adjust for definitions and sentence-embedding closeness, then sort best first."""
        w = self.w
        if term := (slots.defined_term(q.text) if q.want is None else None):
            self._prefer_definitions(term, candidates, w)
        if self.sentence_similarity is not None and w.dense > 0:
            sims = self.sentence_similarity([e.sentence for e in candidates])
            best_sim = max(sims)
            for ev, sim in zip(candidates, sims, strict=True):
                closeness = max(0.0, 1.0 - (best_sim - sim) / w.dense_scale)
                ev.score = ev.score * (1 - w.dense + w.dense * closeness)
        candidates.sort(key=lambda e: (-e.score, e.rank))

    def _blocking(self, q: _Question, best: Evidence) -> list[str]:
        """A place or person the question names that the cited article never mentions: the
        evidence is about something else (e.g. Việt Nam's rank for a question on Nam Định)."""
        blocking = []
        checked = place_or_person_names(q.names)
        if self.article_raw is not None and self.check_names and checked:
            # Case-sensitive: "Nam Định" must not match "Việt Nam định hướng".
            article = _cased_form(
                best.passage.chunk.title + " " + self.article_raw(best.passage.chunk.source),
                q.folded,
            )
            for name in checked:
                key = strip_marks(canonical_tones(name)) if q.folded else canonical_tones(name)
                if not re.search(rf"(?<!\w){name_pattern(key)}(?!\w)", article):
                    blocking.append(f"{name!r} is not mentioned in the cited article")
        return blocking

    def _choose(self, q: _Question, candidates: list[Evidence]) -> list[Evidence]:
        """The best sentence, plus up to max_sentences - 1 close, clean ones adding new terms."""
        best = candidates[0]
        chosen = [best]
        covered = _tokens(best.sentence, q.folded)
        for ev in candidates[1:]:
            if len(chosen) >= self.max_sentences:
                break
            ev_tokens = _tokens(ev.sentence, q.folded)
            new_terms = {t for t in q.uni_w if t in ev_tokens and t not in covered}
            adjacent = ev.passage is best.passage and abs(ev.position - best.position) == 1
            close = ev.score >= (0.8 if adjacent else 0.85) * best.score
            # A focus name the best sentence carries must be in the added one as well.
            keeps_names = all(
                match_form(n) in match_form(ev.sentence)
                for n in q.names
                if match_form(n) in match_form(best.sentence)
            )
            if close and not ev.reasons and new_terms and keeps_names:
                chosen.append(ev)
                covered |= _tokens(ev.sentence, q.folded)
        return chosen

    @staticmethod
    def _prefer_definitions(term: str, candidates: list[Evidence], w: ScoringWeights) -> None:
        """ "Đề án 06 là gì?": the sentence that introduces the term in brackets answers; else
        one that says "<term> là …" (a clause opening with it). Others are penalised."""
        for test, what in ((slots.introduces, "introduce"), (slots.defines, "define")):
            defining = {id(ev) for ev in candidates if test(term, ev.sentence)}
            if defining:
                for ev in candidates:
                    if id(ev) not in defining:
                        ev.score *= w.missing_type
                        ev.reasons.append(f"does not {what} {term!r}")
                return

    def _features(
        self, best: Evidence, question: str, retrieved: list[ScoredChunk], uni_w: dict, folded: bool
    ) -> dict:
        """What the refusal model reads: how completely the best evidence covers the question."""
        sents = split_sentences(best.passage.chunk.text)
        i = sents.index(best.sentence) if best.sentence in sents else 0
        window = _tokens(
            " ".join(sents[max(0, i - 1) : i + 1]) + " " + best.passage.chunk.title, folded
        )
        passage = _tokens(best.passage.chunk.text + " " + best.passage.chunk.title, folded)
        total = sum(uni_w.values()) or 1.0
        top_idf = max(uni_w.values(), default=1.0) or 1.0
        missing = [v for t, v in uni_w.items() if t not in window]
        dense = [r.dense for r in retrieved if r.dense is not None]
        return {
            **best.flags,
            "window_coverage": sum(v for t, v in uni_w.items() if t in window) / total,
            "passage_coverage": sum(v for t, v in uni_w.items() if t in passage) / total,
            "max_missing_idf": max(missing, default=0.0) / top_idf,
            "dense_top": max(dense, default=0.0),
            "english": float(is_english(question)),
            "score": best.score,
        }
