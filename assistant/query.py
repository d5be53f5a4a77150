"""Query-side Vietnamese handling: normalization, abbreviation expansion, accent restoration.

The same :func:`index.normalize.match_form` as indexing is applied; government
abbreviations are expanded (both forms are kept, since articles use both); a query
typed without diacritics gets its accents restored from the corpus before it goes
to the dense model, which cannot read accent-free Vietnamese well.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.abbreviations import ABBREVIATIONS, BY_FOLDED
from assistant.extractive import is_english
from index.normalize import has_diacritics, match_form

# English terms of Vietnamese public administration, for questions asked in English: the
# translated phrases let BM25 and the extractive answerer match the Vietnamese articles.
# Longest phrases first; keep it to the domain (government, digital transformation).
GLOSSARY_EN_VI: dict[str, str] = {
    "national committee on digital transformation": "Ủy ban Quốc gia về chuyển đổi số",
    "ministry of information and communications": "Bộ Thông tin và Truyền thông",
    "ministry of planning and investment": "Bộ Kế hoạch và Đầu tư",
    "ministry of public security": "Bộ Công an",
    "ministry of education and training": "Bộ Giáo dục và Đào tạo",
    "ministry of home affairs": "Bộ Nội vụ",
    "ministry of justice": "Bộ Tư pháp",
    "ministry of finance": "Bộ Tài chính",
    "ministry of health": "Bộ Y tế",
    "ministry of construction": "Bộ Xây dựng",
    "ministry of agriculture and rural development": "Bộ Nông nghiệp và Phát triển nông thôn",
    "state bank of vietnam": "Ngân hàng Nhà nước Việt Nam",
    "people's committee": "Ủy ban nhân dân",
    "peoples committee": "Ủy ban nhân dân",
    "party committee": "Tỉnh ủy",
    "deputy prime minister": "Phó Thủ tướng",
    "prime minister": "Thủ tướng",
    "politburo": "Bộ Chính trị",
    "government": "Chính phủ",
    "national digital transformation programme": "Chương trình Chuyển đổi số quốc gia",
    "national digital transformation program": "Chương trình Chuyển đổi số quốc gia",
    "digital transformation": "chuyển đổi số",
    "digital government": "Chính phủ số",
    "e-government": "Chính phủ điện tử",
    "electronic government": "Chính phủ điện tử",
    "digital economy": "kinh tế số",
    "digital society": "xã hội số",
    "digital citizens": "công dân số",
    "electronic transactions": "giao dịch điện tử",
    "electronic invoices": "hóa đơn điện tử",
    "e-invoices": "hóa đơn điện tử",
    "national database": "cơ sở dữ liệu quốc gia",
    "population data": "dữ liệu về dân cư",
    "cybersecurity": "an toàn, an ninh mạng",
    "project 06": "Đề án 06",
    "resolution": "Nghị quyết",
    "decision": "Quyết định",
    "decree": "Nghị định",
    "directive": "Chỉ thị",
    "plan": "Kế hoạch",
    "law": "Luật",
    "chaired": "chủ trì",
    "chair": "chủ trì",
    "meeting": "phiên họp",
    "conference": "hội nghị",
    "province": "tỉnh",
    "provincial": "tỉnh",
    "company": "công ty",
    "corporation": "tập đoàn",
    "cooperation agreement": "thỏa thuận hợp tác",
    "agreement": "thỏa thuận",
    "ranking": "xếp hạng",
    "ranked": "xếp hạng",
    "growth": "tăng trưởng",
    "pillars": "trụ cột",
    "vice chairman": "Phó Chủ tịch",
    "chairman": "Chủ tịch",
    "director": "Giám đốc",
    "secretary": "Bí thư",
    "vietnam": "Việt Nam",
    "nam dinh": "Nam Định",
    "tuyen quang": "Tuyên Quang",
}
_GLOSSARY_RE = re.compile(
    r"(?<![\w-])("
    + "|".join(re.escape(k) for k in sorted(GLOSSARY_EN_VI, key=len, reverse=True))
    + r")(?![\w-])",
    re.IGNORECASE,
)


def translate_glossary(text: str) -> str:
    """English question with its domain terms replaced by the Vietnamese the articles use."""
    return _GLOSSARY_RE.sub(lambda m: GLOSSARY_EN_VI[m.group(1).lower().replace("’", "'")], text)


_ABBR_RE = re.compile(
    r"(?<![\w&])("
    + "|".join(re.escape(k) for k in sorted(ABBREVIATIONS, key=len, reverse=True))
    + r")(?![\w&])"
)
BY_FOLDED_RE = re.compile(
    r"(?<![\w&])("
    + "|".join(re.escape(k) for k in sorted(BY_FOLDED, key=len, reverse=True))
    + r")(?![\w&])",
    re.IGNORECASE,
)
# Reverse direction: a spelled-out phrase also matches its abbreviation in the text.
_REVERSE = {match_form(v): k for k, v in ABBREVIATIONS.items() if len(v.split()) >= 2}


@dataclass(frozen=True)
class QueryPlan:
    original: str
    dense_text: str  # what the dense model embeds
    lexical_text: str  # what BM25 searches (original + expansions)
    accentless: bool  # typed without any diacritics
    match_text: str = ""  # what the answerer matches sentences against (translated if English)
    expansions: tuple[str, ...] = ()


def expand_abbreviations(text: str) -> tuple[str, list[str]]:
    """Text with each known abbreviation followed by its expansion in parentheses."""
    found: list[str] = []

    def repl(m: re.Match) -> str:
        full = ABBREVIATIONS[m.group(1)]
        found.append(full)
        return f"{m.group(1)} ({full})"

    expanded = _ABBR_RE.sub(repl, text)
    if not found:
        # The same abbreviations typed without accents or in other case: "CDS", "kh&dt".
        def repl_folded(m: re.Match) -> str:
            key = BY_FOLDED.get(m.group(1).upper())
            if key is None or (m.group(1).islower() and len(m.group(1)) <= 3):
                return m.group(1)
            found.append(ABBREVIATIONS[key])
            return f"{m.group(1)} ({ABBREVIATIONS[key]})"

        expanded = BY_FOLDED_RE.sub(repl_folded, text)
    return expanded, found


def reverse_abbreviations(text: str) -> list[str]:
    """Abbreviations whose spelled-out phrase occurs in ``text``."""
    key = match_form(text)
    return [abbr for phrase, abbr in _REVERSE.items() if phrase in key]


def plan_query(question: str, restore=None) -> QueryPlan:
    """Analyse a question. ``restore`` maps an accent-free text to an accented guess."""
    text = " ".join(question.split())
    if is_english(text):
        translated = translate_glossary(text)
        expanded, expansions = expand_abbreviations(translated)
        return QueryPlan(
            original=text,
            dense_text=f"{text} ({translated})" if translated != text else text,
            lexical_text=expanded,
            accentless=False,
            match_text=translated,
            expansions=tuple(expansions),
        )
    accentless = not has_diacritics(text) and bool(re.search(r"[a-zA-Z]{2,}", text))
    expanded, expansions = expand_abbreviations(text)
    dense = expanded
    lexical = expanded
    if accentless and restore is not None:
        restored = restore(expanded)
        # Dense sees the restored Vietnamese; BM25 sees both (the folded field does the rest).
        dense = restored
        lexical = f"{expanded} {restored}"
    extra = reverse_abbreviations(text)
    if extra:
        lexical = f"{lexical} {' '.join(extra)}"
    return QueryPlan(
        original=text,
        dense_text=dense,
        lexical_text=lexical,
        accentless=accentless,
        match_text=text,
        expansions=tuple(expansions),
    )
