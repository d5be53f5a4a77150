"""Answer-slot checks: does a sentence hold the kind of fact the question asks for, and
does it contradict a detail the question pins down?

Near-miss questions ("Phiên họp thứ hai … diễn ra vào ngày nào?" when the articles only
report the first session; "Ai là Chủ tịch UBND tỉnh?" when they only name a Vice-Chair)
share almost every word with a sentence that answers a neighbouring question. Coverage
scores cannot tell them apart; what can is the answer type (a day, a year, a person, a
document number) and the details the question fixes (a year, an ordinal, a title).
All functions take text in match form (see :func:`index.normalize.match_form`), folded
when the question has no diacritics, except where they say otherwise.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from index.lexicon import Lexicon, alternation, per_lexicon
from index.normalize import fold, has_diacritics, match_form

# Checked in this order: the first family whose question words occur wins
# ("quyết định số mấy" asks for a document number, not for a count). Written with their
# accents; a question typed without any is matched against the same words folded, and only
# then: folding an accented question would read "máy" (machine) as "mấy" (how many).
_TYPE_PATTERNS: list[tuple[str, str]] = [
    ("abbreviation", r"viết tắt|stand for|stands for"),
    ("docnum", r"số hiệu|văn bản số|số mấy"),
    ("year", r"năm nào|năm bao nhiêu|which year|what year"),
    ("day", r"ngày nào|ngày mấy|ngày bao nhiêu|what date"),
    (
        "date",
        r"khi nào|bao giờ|lúc nào|thời điểm nào|thời gian nào|thời hạn nào|tháng nào|when",
    ),
    ("number", r"bao nhiêu|mấy|số lượng|tỷ lệ|tỉ lệ|how many|how much|percent"),
    ("person", r"ai|who|whom"),
]
_TYPE_RES = [(name, re.compile(rf"\b(?:{rx})\b")) for name, rx in _TYPE_PATTERNS]
_FOLDED_TYPE_RES = [(name, re.compile(rf"\b(?:{fold(rx)})\b")) for name, rx in _TYPE_PATTERNS]

YEAR_RE = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")
# Any date-like mention, for "khi nào": 30/11, 19-7, năm 2021, tháng 6, quý III.
DATE_RE = re.compile(
    r"\b\d{1,2}[/-]\d{1,2}(?:[/-]\d{2,4})?\b|\bn[aă]m \d{4}\b|\bth[aá]ng \d{1,2}\b"
    r"|\bng[aà]y \d{1,2}\b|\bqu[yý] [ivx]+\b"
)
# A day of the month: 30/11, 19-7, ngày 24.
DAY_RE = re.compile(r"\b\d{1,2}\s*[/-]\s*\d{1,2}\b|\bng[aà]y\s+\d{1,2}\b")
# Document numbers carry letters: 09-NQ/TU, 122/KH-UBND, 64/2007/NĐ-CP (not 7/2023).
DOCNUM_RE = re.compile(r"\b\d+\w*(?:[/-][\wđĐ]+)+")
# Runs of two or more capitalised words: names of people, places and organisations.
# Every Vietnamese capital letter (Ủ, Ứ, Ấ, Ố, … as well as A-Z and Đ).
_CAPITALS = "A-Z" + "".join(
    c
    for c in map(chr, range(0xC0, 0x1EFA))
    if unicodedata.category(c) == "Lu" and unicodedata.name(c).startswith("LATIN CAPITAL")
)
NAME_RUN_RE = re.compile(rf"(?:[{_CAPITALS}][\wÀ-ỹ&]*)(?:\s+[{_CAPITALS}][\wÀ-ỹ&]*)+", re.U)

# "Ai là …" / "… là ai": the question asks who someone is, so a name must answer it.
_IDENTITY_RE = re.compile(r"\b(?:ai la|la ai|who is|who was)\b")


@dataclass(frozen=True)
class _Words:
    """The lexicon's title and organisation words, as the checks below compare them."""

    # Titles whose holder a question may ask about; "Phó" in front makes it another post.
    titles: tuple[str, ...]
    # Words that open the name of an organisation, without accents; such names are often
    # abbreviated in the articles (Bộ TT&TT, Ban TVTU), and they are not people.
    org_heads: frozenset[str]
    # Words that open the name of a body after a title ("Chủ tịch Ủy ban …", "… UBND tỉnh").
    body_words: frozenset[str]
    which_holder_re: re.Pattern  # "Thứ trưởng Bộ Tài chính nào …"
    document_year_re: re.Pattern  # "Bộ luật Dân sự 2015", "Luật Đất đai năm 2013"


@per_lexicon
def _words(lex: Lexicon) -> _Words:
    titles = tuple(lex.titles)
    org_heads = frozenset(fold(w) for w in lex.org_heads)
    return _Words(
        titles=titles,
        org_heads=org_heads,
        body_words=org_heads | {fold(w) for w in lex.body_words},
        which_holder_re=re.compile(
            rf"\b(?:{alternation(fold(t) for t in titles)})\b(?:\s+[\w&]+){{0,5}}?\s+nao\b"
        ),
        document_year_re=re.compile(
            rf"\b(?:{alternation(fold(k) for k in lex.document_kinds)})\b"
            r"(?:\s+[^\W\d]+){0,6}?\s+(?:nam\s+)?((?:19|20)\d\d)\b"
        ),
    )


def document_years(question: str) -> set[str]:
    """Years that name the version of a document the question asks about ("Theo Bộ luật
    Dân sự 2015, …"): the passage quoting that document need not repeat them."""
    return set(_words().document_year_re.findall(fold(match_form(question))))


def __getattr__(name: str) -> Any:
    """``TITLES``, ``ORG_HEADS`` and ``_BODY_WORDS``, kept as names; they follow the lexicon."""
    if name == "TITLES":
        return _words().titles
    if name == "ORG_HEADS":
        return _words().org_heads
    if name == "_BODY_WORDS":
        return _words().body_words
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_ORDINAL_WORDS = {
    "nhất": 1,
    "một": 1,
    "hai": 2,
    "ba": 3,
    "tư": 4,
    "bốn": 4,
    "năm": 5,
    "sáu": 6,
    "bảy": 7,
    "tám": 8,
    "chín": 9,
    "mười": 10,
}
_ORDINALS = {**_ORDINAL_WORDS, **{fold(k): v for k, v in _ORDINAL_WORDS.items()}}
_ORDINAL_RE = re.compile(r"(\w+)\s+thứ\s+(\w+)|(\w+)\s+thu\s+(\w+)")
_FIRST_RE = re.compile(r"(\w+)\s+(?:đầu tiên|dau tien)\b")


def answer_type(question: str) -> str | None:
    """abbreviation, docnum, year, day, date, number, person or None (no particular type)."""
    form = match_form(question)
    accented = has_diacritics(form)
    text = form if accented else fold(form)
    for name, rx in _TYPE_RES if accented else _FOLDED_TYPE_RES:
        if rx.search(text):
            return name
    # "Thứ trưởng Bộ Tài chính nào phát biểu?" asks for a person too.
    if _words().which_holder_re.search(fold(form)):
        return "person"
    return None


# "<term> là gì?" asks what a term is. Where an article introduces the term in brackets
# after its full name ("Đề án Phát triển ứng dụng dữ liệu về dân cư … (Đề án 06)",
# "Bộ luật Hình sự (BLHS)"), that sentence is its definition.
_DEFINITION_RE = re.compile(  # on the folded question
    r"^(?P<term>[\w&./-]+(?: [\w&./-]+){0,5}?) (?:nghia la gi|la cai gi|la gi)\W*$"
)


def defined_term(question: str) -> str | None:
    """The term a "<term> là gì?" question asks about (match form, folded), else None."""
    m = _DEFINITION_RE.match(fold(match_form(question.strip())))
    return m.group("term") if m else None


def introduces(term: str, text: str) -> bool:
    """Does ``text`` introduce ``term`` in brackets, "(term)" or "(term, …)"? Folded compare."""
    return bool(re.search(rf"\(\s*{re.escape(term)}\s*[),;]", fold(match_form(text))))


# A sentence that states what the term is: the term opens a clause and "là" follows
# ("Thủ tướng nhấn mạnh quan điểm: CĐS là xu thế tất yếu …"), not "… chính sách về CĐS là …".
_DEFINES_VERBS = r"(?:la|duoc hieu la|duoc dinh nghia la|co nghia la|nghia la)"


def term_spellings(term: str) -> list[str]:
    """``term`` (folded) with the spellings the abbreviation table gives it, both ways."""
    from assistant.answering.abbreviations import abbreviations_spelled_out, spell_out

    forms = [term, spell_out(term, folded=True), *abbreviations_spelled_out(term, folded=True)]
    return list(dict.fromkeys(f for f in forms if f))


def defines(term: str, text: str) -> bool:
    """Does a clause of ``text`` open with ``term`` (or its abbreviation) followed by "là"?"""
    forms = "|".join(re.escape(f) for f in sorted(term_spellings(term), key=len, reverse=True))
    rx = rf"(?:^|[:;,.!?\"“”(]\s*)(?:{forms})(?:\s*\([^)]*\))?\s+{_DEFINES_VERBS}\b"
    return bool(re.search(rx, fold(match_form(text))))


def is_docnum(text: str) -> bool:
    return any(c.isalpha() for c in text)


def docnums(text: str) -> set[str]:
    """Document numbers in ``text`` (match form), without dates such as 7/2023."""
    return {d for d in DOCNUM_RE.findall(text) if is_docnum(d)}


# "<noun> số mấy": the two syllables before name what is numbered (kế hoạch số mấy,
# quyết định số mấy); a sentence answers only with that noun's own number. ("… có số hiệu
# là gì" names no noun next to it and keeps the plain check.)
_NUMBERED_NOUN_RE = re.compile(r"(\w+ \w+) (?:số mấy|so may)\b")


def _numbered_noun(question: str) -> str | None:
    m = _NUMBERED_NOUN_RE.search(question)
    return m.group(1) if m else None


def has_slot(kind: str, sentence_raw: str, sentence: str, question: str) -> bool:
    """Does the sentence hold a fact of the asked ``kind`` that the question does not give?"""
    if kind == "year":
        return bool(set(YEAR_RE.findall(sentence)) - set(YEAR_RE.findall(question)))
    if kind == "day":
        return bool(set(DAY_RE.findall(sentence)) - set(DAY_RE.findall(question)))
    if kind == "date":
        return bool(DATE_RE.search(sentence))
    if kind == "docnum":
        found = docnums(sentence) - docnums(question)
        noun = _numbered_noun(question)
        if noun and found:  # "kế hoạch số mấy": the number must be the plan's own
            return any(
                re.search(rf"{re.escape(noun)}\s+(?:số\s+|so\s+)?{re.escape(d)}", sentence)
                for d in found
            )
        return bool(found)
    if kind == "abbreviation":  # "Chuyển đổi số (CĐS)" spells out the asked abbreviation
        return any(
            re.search(rf"\(\s*{re.escape(t)}\s*\)", fold(sentence))
            for t in re.findall(r"[\w&]+", fold(question))
        )
    if kind == "person":
        q = fold(match_form(question))
        names = [n for n in NAME_RUN_RE.findall(sentence_raw) if fold(match_form(n)) not in q]
        if _IDENTITY_RE.search(q):  # "X là ai?" wants a name, not another post
            return any(_person_names(n) for n in names)
        titles = [t for t in _words().titles if fold(t) in fold(sentence) and fold(t) not in q]
        return bool(names or titles)
    return True


def _person_names(run: str) -> list[str]:
    """Personal names inside a run of capitalised words ("Bộ TT&TT Nguyễn Mạnh Hùng").

    The run is cut at acronyms; a piece that opens with an organisation word is not a
    person. What is left with two or more words is a name.
    """
    pieces: list[list[str]] = [[]]
    for word in run.split():
        if word.isupper() or "&" in word:
            pieces.append([])
        else:
            pieces[-1].append(word)
    heads = _words().org_heads
    return [" ".join(p) for p in pieces if len(p) >= 2 and fold(match_form(p[0])) not in heads]


def _initials(words: list[str]) -> str:
    return "".join(w[0] for w in words if w not in ("va", "và"))


def _same_words(asked: list[str], stated: list[str], units: int = 2) -> bool:
    """Do the first ``units`` words after a title name the same body in both texts?

    An abbreviation on either side matches the initials of the other side's words
    ("tt&tt" ~ "thông tin và truyền thông", "ubnd" ~ "ủy ban nhân dân").
    """
    i = j = 0
    for _ in range(units):
        if i >= len(asked):
            return True
        if j >= len(stated):
            return False
        a, b = asked[i], stated[j]
        if fold(a) == fold(b):
            i, j = i + 1, j + 1
            continue
        for short, long_words, step in ((a, stated[j:], "a"), (b, asked[i:], "b")):
            letters = fold(short).replace("&", "")
            if len(letters) >= 2 and not short.isdigit():
                initials = fold(_initials(long_words))
                if initials.startswith(letters):
                    consumed = _consumed(long_words, len(letters))
                    i, j = (i + 1, j + consumed) if step == "a" else (i + consumed, j + 1)
                    break
        else:
            return False
    return True


def _consumed(words: list[str], letters: int) -> int:
    """How many words give ``letters`` initials (skipping "và")."""
    count = taken = 0
    for w in words:
        count += 1
        if w not in ("va", "và"):
            taken += 1
        if taken == letters:
            break
    return count


@lru_cache(maxsize=64)
def ordinals(text: str) -> dict[str, set[int]]:
    """head word -> ordinals it takes in ``text`` ("phiên họp thứ nhất" -> {"họp": {1}})."""
    out: dict[str, set[int]] = {}
    for m in _ORDINAL_RE.finditer(text):
        head, word = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        value = int(word) if word.isdigit() else _ORDINALS.get(word)
        if value is not None:
            out.setdefault(head, set()).add(value)
    for m in _FIRST_RE.finditer(text):
        out.setdefault(m.group(1), set()).add(1)
    return out


def conflicts(
    question: str,
    sentence: str,
    window: str,
    article_ordinals: dict[str, set[int]],
    person: bool = False,
) -> list[str]:
    """Details the question fixes that the evidence states otherwise.

    ``sentence`` is the answer sentence, ``window`` the sentence with its predecessor and
    the article's title and date (both in the question's match form), ``article_ordinals``
    what :func:`ordinals` finds in the retrieved articles. Near-miss signs: the sentence gives another year than the question's
    (or gives none and its window does); the article gives another ordinal for the same
    head noun ("phiên họp thứ hai" vs "phiên họp thứ nhất"); the window holds a title the
    question asks about only as "Phó …", or not at all when a person is asked for.
    """
    found: list[str] = []
    q_years = set(YEAR_RE.findall(question))
    years = set(YEAR_RE.findall(sentence)) or set(YEAR_RE.findall(window))
    if q_years and years and not (q_years & years):
        found.append(f"year {sorted(q_years)} vs {sorted(years)}")
    for head, wanted in ordinals(question).items():
        stated = article_ordinals.get(head)
        if stated and not (wanted & stated):
            found.append(f"'{head}' ordinal {sorted(wanted)} vs {sorted(stated)}")
    folded_q, folded_w = fold(question), fold(window)
    vocab = _words()
    for title in vocab.titles:
        t = fold(title)
        if not re.search(rf"\b{re.escape(t)}\b", folded_q) or f"pho {t}" in folded_q:
            continue
        mentions = [m.start() for m in re.finditer(rf"\b{re.escape(t)}\b", folded_w)]
        if mentions and all(folded_w[max(0, i - 4) : i] == "pho " for i in mentions):
            found.append(f"only 'Phó {title}' in the evidence")
        elif person and not mentions:
            found.append(f"no '{title}' next to the answer")
        elif person:
            after_q = _words_after(folded_q, t)
            stated = [folded_w[i + len(t) :].split() for i in mentions]
            # Only where the evidence names the body ("Chủ tịch Ủy ban Quốc gia"), not
            # where a name follows the title ("Giám đốc Vũ Trọng Quế").
            stated = [w for w in stated if w and w[0] in vocab.body_words]
            if after_q and stated and not any(_same_words(after_q, w) for w in stated):
                found.append(f"'{title}' of another body in the evidence")
    return found


def docnum_date_conflict(question: str, sentence: str, kind: str) -> str | None:
    """The question's document is in the sentence, but no date stands next to it.

    Vietnamese puts a document's date right after its number ("Nghị quyết số 17/NQ-CP
    ngày 7-3-2019") or opens the sentence with it ("Ngày 22-10-2021, UBND tỉnh ban hành
    Kế hoạch số 122/KH-UBND"); in "theo Nghị quyết 17/NQ-CP, … Quyết định số 749/QĐ-TTg
    ngày 3-6-2020" the date belongs to the other document.
    """
    wanted = docnums(question)
    if kind not in ("day", "date", "year") or not wanted:
        return None
    marks = sorted((m.start(), m.end(), m.group(0)) for m in DOCNUM_RE.finditer(sentence))
    marks = [m for m in marks if is_docnum(m[2])]
    for i, (start, end, number) in enumerate(marks):
        if number not in wanted:
            continue
        begin = marks[i - 1][1] if i > 0 else 0
        stop = marks[i + 1][0] if i + 1 < len(marks) else len(sentence)
        # "Ngày 15-10-2021, … ban hành Nghị quyết số 09-NQ/TU" dates it from the front.
        if has_slot(kind, "", sentence[begin:start], question) or has_slot(
            kind, "", sentence[end:stop], question
        ):
            return None
        return f"no date next to {number}"
    return None


def _words_after(text: str, phrase: str) -> list[str]:
    m = re.search(rf"\b{re.escape(phrase)}\b", text)
    if not m:
        return []
    return re.findall(r"[\w&]+", text[m.end() :].split("?")[0])


def clause_conflict(question: str, sentence: str, answers) -> str | None:
    """The question's year is in the sentence, but not in a clause that holds the answer.

    "phấn đấu đến năm 2025 thuộc nhóm 20 địa phương …; đến năm 2030 cơ bản hoàn thành CĐS"
    does not say which group the province aims for by 2030. ``answers(clause)`` tells
    whether a clause holds a fact of the asked type.
    """
    q_years = set(YEAR_RE.findall(question))
    clauses = [c for c in re.split(r";", sentence) if c.strip()]
    if not q_years or len(clauses) < 2:
        return None
    with_year = [c for c in clauses if q_years & set(YEAR_RE.findall(c))]
    slots = [c for c in clauses if answers(c)]
    if with_year and slots and not any(c in with_year for c in slots):
        return f"year {sorted(q_years)} and the answer are in different clauses"
    return None
