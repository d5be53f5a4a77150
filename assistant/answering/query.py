"""Query-side Vietnamese handling: normalization, abbreviation expansion, accent restoration.

The same :func:`index.normalize.match_form` as indexing is applied; government
abbreviations are expanded (both forms are kept, since articles use both); a query
typed without diacritics gets its accents restored from the corpus before it goes
to the dense model, which cannot read accent-free Vietnamese well.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from assistant.answering.abbreviations import abbreviations, by_folded
from assistant.answering.extractive import is_english
from index.lexicon import Lexicon, alternation, per_lexicon
from index.normalize import has_diacritics, match_form


@dataclass(frozen=True)
class _Tables:
    """Regexes and tables derived from the lexicon, built once per lexicon."""

    glossary: dict[str, str]  # lower-case English phrase -> Vietnamese
    glossary_re: re.Pattern
    abbr_re: re.Pattern
    by_folded_re: re.Pattern
    # Reverse direction: a spelled-out phrase also matches its abbreviation in the text.
    reverse: dict[str, str]


def _word_re(words: Iterable[str], flags: int = 0, edge: str = r"\w&") -> re.Pattern:
    """Any of ``words`` (longest first) standing alone: not inside a longer word."""
    alt = alternation(sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![{edge}])({alt})(?![{edge}])", flags)


@per_lexicon
def _tables(lex: Lexicon) -> _Tables:
    # English terms of Vietnamese public administration, for questions asked in English:
    # the translated phrases let BM25 and the extractive answerer match the articles.
    glossary = {k.lower().replace("’", "'"): v for k, v in lex.glossary.items()}
    table = abbreviations()
    return _Tables(
        glossary=glossary,
        glossary_re=_word_re(glossary, re.IGNORECASE, edge=r"\w-"),
        abbr_re=_word_re(table),
        by_folded_re=_word_re(by_folded(), re.IGNORECASE),
        reverse={match_form(v): k for k, v in table.items() if len(v.split()) >= 2},
    )


def glossary() -> dict[str, str]:
    """The EN->VI glossary in use (the lexicon's "glossary"; keys lower-case)."""
    return _tables().glossary


def __getattr__(name: str) -> Any:
    """``GLOSSARY_EN_VI`` and ``BY_FOLDED_RE``, kept as names; they follow the lexicon."""
    if name == "GLOSSARY_EN_VI":
        return _tables().glossary
    if name == "BY_FOLDED_RE":
        return _tables().by_folded_re
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def translate_glossary(text: str) -> str:
    """English question with its domain terms replaced by the Vietnamese the articles use."""
    t = _tables()
    return t.glossary_re.sub(lambda m: t.glossary[m.group(1).lower().replace("’", "'")], text)


@dataclass(frozen=True)
class QueryPlan:
    original: str
    dense_text: str  # what the dense model embeds
    lexical_text: str  # what BM25 searches (original + expansions)
    accentless: bool  # typed without any diacritics
    match_text: str = ""  # what the answerer matches sentences against (translated if English)
    expansions: tuple[str, ...] = ()
    english: bool = False  # read as an English (cross-lingual) question


def expand_abbreviations(text: str) -> tuple[str, list[str]]:
    """Text with each known abbreviation followed by its expansion in parentheses."""
    found: list[str] = []
    t, table, folded = _tables(), abbreviations(), by_folded()

    def repl(m: re.Match) -> str:
        full = table[m.group(1)]
        found.append(full)
        return f"{m.group(1)} ({full})"

    expanded = t.abbr_re.sub(repl, text)
    if not found:
        # The same abbreviations typed without accents or in other case: "CDS", "kh&dt".
        def repl_folded(m: re.Match) -> str:
            key = folded.get(m.group(1).upper())
            if key is None or (m.group(1).islower() and len(m.group(1)) <= 3):
                return m.group(1)
            found.append(table[key])
            return f"{m.group(1)} ({table[key]})"

        expanded = t.by_folded_re.sub(repl_folded, text)
    return expanded, found


def reverse_abbreviations(text: str) -> list[str]:
    """Abbreviations whose spelled-out phrase occurs in ``text``."""
    key = match_form(text)
    return [abbr for phrase, abbr in _tables().reverse.items() if phrase in key]


# A Vietnamese syllable written without accents: onset, vowel nucleus, coda. English words
# mostly break it ("what", "date", "issued"); accent-free Vietnamese ("de an 06 la gi") fits.
_VI_SYLLABLE_RE = re.compile(
    r"(?:ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdghklmnpqrstvx])?"
    r"(?:uye|uya|ieu|yeu|uoi|uou|oai|oay|uay|[aeiouy]{1,3})"
    r"(?:ng|nh|ch|[cmnpt])?",
)


def _reads_as_vietnamese(text: str, restore) -> bool:
    """An accent-free question whose words are nearly all Vietnamese syllables.

    "de an 06 la gi" has an English-looking word ("an"), but every word is a possible
    Vietnamese syllable: it is Vietnamese typed without diacritics, not English.
    """
    if restore is None or has_diacritics(text):
        return False
    words = re.findall(r"[a-zA-Z]+", text)
    if not words:
        return False
    fits = sum(bool(_VI_SYLLABLE_RE.fullmatch(w.lower())) for w in words)
    return fits >= 0.9 * len(words)


def plan_query(question: str, restore=None) -> QueryPlan:
    """Analyse a question. ``restore`` maps an accent-free text to an accented guess."""
    text = " ".join(question.split())
    if is_english(text) and not _reads_as_vietnamese(text, restore):
        translated = translate_glossary(text)
        expanded, expansions = expand_abbreviations(translated)
        return QueryPlan(
            english=True,
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
