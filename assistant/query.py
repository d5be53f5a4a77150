"""Query-side Vietnamese handling: normalization, abbreviation expansion, accent restoration.

The same :func:`index.normalize.match_form` as indexing is applied; government
abbreviations are expanded (both forms are kept, since articles use both); a query
typed without diacritics gets its accents restored from the corpus before it goes
to the dense model, which cannot read accent-free Vietnamese well.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from index.normalize import fold, has_diacritics, match_form

# Common government abbreviations (keys as written; matched case-sensitively on word
# boundaries, and also in their accent-free spelling). Keep it short and documented
# in the README.
ABBREVIATIONS: dict[str, str] = {
    "CĐS": "chuyển đổi số",
    "UBND": "Ủy ban nhân dân",
    "HĐND": "Hội đồng nhân dân",
    "TT&TT": "Thông tin và Truyền thông",
    "TTTT": "Thông tin và Truyền thông",
    "KH&ĐT": "Kế hoạch và Đầu tư",
    "NN&PTNT": "Nông nghiệp và Phát triển nông thôn",
    "BHXH": "Bảo hiểm xã hội",
    "BHYT": "bảo hiểm y tế",
    "CCCD": "căn cước công dân",
    "KTXH": "kinh tế - xã hội",
    "KT-XH": "kinh tế - xã hội",
    "CNTT": "công nghệ thông tin",
    "GTVT": "Giao thông vận tải",
    "TTg": "Thủ tướng",
    "CP": "Chính phủ",
    "TW": "Trung ương",
    "BCH": "Ban Chấp hành",
    "VGP": "Cổng Thông tin điện tử Chính phủ",
    "CSDL": "cơ sở dữ liệu",
    "DVC": "dịch vụ công",
    "TP": "thành phố",
    "CQĐT": "chính quyền điện tử",
    "CPĐT": "Chính phủ điện tử",
}

_ABBR_RE = re.compile(
    r"(?<![\w&])("
    + "|".join(re.escape(k) for k in sorted(ABBREVIATIONS, key=len, reverse=True))
    + r")(?![\w&])"
)
_FOLDED_ABBR = {fold(k).upper(): k for k in ABBREVIATIONS}
_FOLDED_ABBR_RE = re.compile(
    r"(?<![\w&])("
    + "|".join(re.escape(k) for k in sorted(_FOLDED_ABBR, key=len, reverse=True))
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
            key = _FOLDED_ABBR.get(m.group(1).upper())
            if key is None or (m.group(1).islower() and len(m.group(1)) <= 3):
                return m.group(1)
            found.append(ABBREVIATIONS[key])
            return f"{m.group(1)} ({ABBREVIATIONS[key]})"

        expanded = _FOLDED_ABBR_RE.sub(repl_folded, text)
    return expanded, found


def reverse_abbreviations(text: str) -> list[str]:
    """Abbreviations whose spelled-out phrase occurs in ``text``."""
    key = match_form(text)
    return [abbr for phrase, abbr in _REVERSE.items() if phrase in key]


def plan_query(question: str, restore=None) -> QueryPlan:
    """Analyse a question. ``restore`` maps an accent-free text to an accented guess."""
    text = " ".join(question.split())
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
        expansions=tuple(expansions),
    )
