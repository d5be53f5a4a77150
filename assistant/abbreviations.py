"""Common government abbreviations and what they stand for.

Shared by the query side (expansion before retrieval) and the answerer (a sentence that
spells out "Bộ Kế hoạch và Đầu tư" answers a question about "Bộ KH&ĐT").
"""

from __future__ import annotations

import re

from index.normalize import fold, match_form

# Common government abbreviations (keys as written; matched case-sensitively on word
# boundaries, and also in their accent-free spelling). Keep it short: the README points
# here as the documentation of the table.
ABBREVIATIONS: dict[str, str] = {
    "CĐS": "chuyển đổi số",
    "UBND": "Ủy ban nhân dân",
    "HĐND": "Hội đồng nhân dân",
    "TT&TT": "Thông tin và Truyền thông",
    "TTTT": "Thông tin và Truyền thông",
    "KH&ĐT": "Kế hoạch và Đầu tư",
    "NN&PTNT": "Nông nghiệp và Phát triển nông thôn",
    "TN&MT": "Tài nguyên và Môi trường",
    "GD&ĐT": "Giáo dục và Đào tạo",
    "KH&CN": "Khoa học và Công nghệ",
    "LĐ-TB&XH": "Lao động - Thương binh và Xã hội",
    "VH-TT&DL": "Văn hóa, Thể thao và Du lịch",
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


def _abbreviation_pairs() -> list[tuple[str, str]]:
    """(expansion, abbreviation) in match form, longest expansion first."""
    pairs = {(match_form(v), match_form(k)) for k, v in ABBREVIATIONS.items()}
    return sorted(pairs, key=lambda p: (-len(p[0]), p))


_PAIRS = _abbreviation_pairs()
_FOLDED_PAIRS = [(fold(v), fold(k)) for v, k in _PAIRS]


def _spelled_out_re(pairs: list[tuple[str, str]]) -> re.Pattern:
    fulls = [full for full, _ in pairs if len(full.split()) >= 2]
    return re.compile(r"\b(" + "|".join(re.escape(f) for f in fulls) + r")\b")


_SPELLED_RE = _spelled_out_re(_PAIRS)
_FOLDED_SPELLED_RE = _spelled_out_re(_FOLDED_PAIRS)
_ABBRS_OF: dict[str, list[str]] = {}
for _full, _abbr in sorted(set(_PAIRS) | set(_FOLDED_PAIRS)):
    _ABBRS_OF.setdefault(_full, []).append(_abbr)


def abbreviations_spelled_out(form: str, folded: bool = False) -> list[str]:
    """Abbreviations whose expansion occurs in ``form`` (match form, folded if ``folded``)."""
    rx = _FOLDED_SPELLED_RE if folded else _SPELLED_RE
    return list(dict.fromkeys(a for m in rx.findall(form) for a in _ABBRS_OF[m]))


_LONGEST_ABBR_FIRST = sorted(_PAIRS, key=lambda p: -len(p[1]))
_FOLDED_LONGEST_ABBR_FIRST = sorted(_FOLDED_PAIRS, key=lambda p: -len(p[1]))


def spell_out(form: str, folded: bool = False) -> str:
    """``form`` with every known abbreviation replaced by its expansion ("bộ kh&đt" ->
    "bộ kế hoạch và đầu tư"); match form, folded if ``folded``."""
    for full, abbr in _FOLDED_LONGEST_ABBR_FIRST if folded else _LONGEST_ABBR_FIRST:
        form = re.sub(rf"(?<![\w&]){re.escape(abbr)}(?![\w&])", full, form)
    return form


def abbreviated(form: str, folded: bool = False) -> list[str]:
    """``form`` with a spelled-out name replaced by each of its abbreviations
    ("bộ thông tin và truyền thông" -> ["bộ tt&tt", "bộ tttt"])."""
    rx = _FOLDED_SPELLED_RE if folded else _SPELLED_RE
    out = []
    for m in dict.fromkeys(rx.findall(form)):
        out += [re.sub(rf"\b{re.escape(m)}\b", abbr, form) for abbr in _ABBRS_OF[m]]
    return out


# An abbreviation typed without accents, in capitals ("CDS", "KH&DT") -> as the table has it.
BY_FOLDED = {fold(k).upper(): k for k in sorted(ABBREVIATIONS)}


def abbreviations_in(text: str) -> list[str]:
    """Abbreviations a question mentions, as the articles write them: "CĐS" for "CDS"/"cds"."""
    found = []
    for word in re.findall(r"[\w&]+", text):
        known = BY_FOLDED.get(fold(word).upper())
        if known:
            found.append(known)
        elif len(word) >= 2 and any(c.isupper() for c in word[1:]):
            found.append(word)  # an acronym outside the table
    return list(dict.fromkeys(found))


def with_table_spelling(text: str) -> str:
    """Abbreviations typed without accents or in lower case, written as the table has them
    ("cds la viet tat cua gi" -> "CĐS la viet tat cua gi"), so they match the articles."""

    def repl(m: re.Match) -> str:
        word = m.group(0)
        known = BY_FOLDED.get(fold(word).upper())
        if known is None or word == known or (word != word.lower() and word != word.upper()):
            return word
        return known

    return re.sub(r"(?<![\w&])[\w&]{2,}(?![\w&])", repl, text)
