"""Common government abbreviations and what they stand for.

Shared by the query side (expansion before retrieval) and the answerer (a sentence that
spells out "Bộ Kế hoạch và Đầu tư" answers a question about "Bộ KH&ĐT"). The table itself
is data: the "abbreviations" section of the lexicon (:mod:`index.lexicon`), read at call
time so ``HOIDAP_LEXICON`` can extend or replace it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from index.lexicon import Lexicon, alternation, lexicon, per_lexicon
from index.normalize import fold, match_form


def _spelled_out_re(pairs: list[tuple[str, str]]) -> re.Pattern:
    fulls = [full for full, _ in pairs if len(full.split()) >= 2]
    return re.compile(r"\b(" + alternation(fulls) + r")\b")


@dataclass(frozen=True)
class _Tables:
    """Everything derived from the abbreviation table, built once per lexicon."""

    spelled_re: re.Pattern
    folded_spelled_re: re.Pattern
    abbrs_of: dict[str, list[str]]
    longest_abbr_first: list[tuple[str, str]]
    folded_longest_abbr_first: list[tuple[str, str]]
    by_folded: dict[str, str]


@per_lexicon
def _tables(lex: Lexicon) -> _Tables:
    table = lex.abbreviations
    # (expansion, abbreviation) in match form, longest expansion first.
    pairs = sorted(
        {(match_form(v), match_form(k)) for k, v in table.items()}, key=lambda p: (-len(p[0]), p)
    )
    folded_pairs = [(fold(v), fold(k)) for v, k in pairs]
    abbrs_of: dict[str, list[str]] = {}
    for full, abbr in sorted(set(pairs) | set(folded_pairs)):
        abbrs_of.setdefault(full, []).append(abbr)
    return _Tables(
        spelled_re=_spelled_out_re(pairs),
        folded_spelled_re=_spelled_out_re(folded_pairs),
        abbrs_of=abbrs_of,
        longest_abbr_first=sorted(pairs, key=lambda p: -len(p[1])),
        folded_longest_abbr_first=sorted(folded_pairs, key=lambda p: -len(p[1])),
        # An abbreviation typed without accents, in capitals ("CDS", "KH&DT") -> as the
        # table has it.
        by_folded={fold(k).upper(): k for k in sorted(table)},
    )


def abbreviations() -> dict[str, str]:
    """The abbreviation table in use (keys as written; matched case-sensitively on word
    boundaries, and also in their accent-free spelling)."""
    return lexicon().abbreviations


def by_folded() -> dict[str, str]:
    """Accent-free upper-case spelling -> the abbreviation as the table writes it."""
    return _tables().by_folded


def __getattr__(name: str) -> Any:
    """``ABBREVIATIONS`` and ``BY_FOLDED``, kept as names; they follow the lexicon in use."""
    if name == "ABBREVIATIONS":
        return abbreviations()
    if name == "BY_FOLDED":
        return by_folded()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def abbreviations_spelled_out(form: str, folded: bool = False) -> list[str]:
    """Abbreviations whose expansion occurs in ``form`` (match form, folded if ``folded``)."""
    t = _tables()
    rx = t.folded_spelled_re if folded else t.spelled_re
    return list(dict.fromkeys(a for m in rx.findall(form) for a in t.abbrs_of[m]))


def spell_out(form: str, folded: bool = False) -> str:
    """``form`` with every known abbreviation replaced by its expansion ("bộ kh&đt" ->
    "bộ kế hoạch và đầu tư"); match form, folded if ``folded``."""
    t = _tables()
    for full, abbr in t.folded_longest_abbr_first if folded else t.longest_abbr_first:
        form = re.sub(rf"(?<![\w&]){re.escape(abbr)}(?![\w&])", full, form)
    return form


def abbreviated(form: str, folded: bool = False) -> list[str]:
    """``form`` with a spelled-out name replaced by each of its abbreviations
    ("bộ thông tin và truyền thông" -> ["bộ tt&tt", "bộ tttt"])."""
    t = _tables()
    rx = t.folded_spelled_re if folded else t.spelled_re
    out = []
    for m in dict.fromkeys(rx.findall(form)):
        out += [re.sub(rf"\b{re.escape(m)}\b", abbr, form) for abbr in t.abbrs_of[m]]
    return out


def abbreviations_in(text: str) -> list[str]:
    """Abbreviations a question mentions, as the articles write them: "CĐS" for "CDS"/"cds"."""
    table = by_folded()
    found = []
    for word in re.findall(r"[\w&]+", text):
        known = table.get(fold(word).upper())
        if known:
            found.append(known)
        elif len(word) >= 2 and any(c.isupper() for c in word[1:]):
            found.append(word)  # an acronym outside the table
    return list(dict.fromkeys(found))


def with_table_spelling(text: str) -> str:
    """Abbreviations typed without accents or in lower case, written as the table has them
    ("cds la viet tat cua gi" -> "CĐS la viet tat cua gi"), so they match the articles."""
    table = by_folded()

    def repl(m: re.Match) -> str:
        word = m.group(0)
        known = table.get(fold(word).upper())
        if known is None or word == known or (word != word.lower() and word != word.upper()):
            return word
        return known

    return re.sub(r"(?<![\w&])[\w&]{2,}(?![\w&])", repl, text)
