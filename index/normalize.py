"""Vietnamese text normalization for matching.

Display and citation always use the original text; everything that is *matched*
(lexical index, query analysis, citation overlap checks) goes through
:func:`match_form` so that NFC/NFD input, old vs new tone placement (``hoá`` /
``hóa``) and letter case do not change results. :func:`fold` additionally drops
every diacritic so that queries typed without accents still match.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

from index.lexicon import Lexicon, per_lexicon

# Combining marks that carry the five Vietnamese tones (in NFD form).
_TONE_MARKS = {
    "\u0300": "huyen",  # grave  à
    "\u0301": "sac",  # acute  á
    "\u0303": "nga",  # tilde  ã
    "\u0309": "hoi",  # hook   ả
    "\u0323": "nang",  # dot    ạ
}
# Marks that change the vowel's shape (â ê ô, ă, ơ ư); a tone prefers these vowels.
_SHAPE_MARKS = {"\u0302", "\u0306", "\u031b"}
_VOWELS = set("aeiouy")

_WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)


# Characters that render as nothing but split or reorder words: zero-width space/joiners,
# word joiner, BOM, soft hyphen, and the bidi embedding/override/isolate controls (text
# pasted from web pages carries them; "Bộ\u200bY tế" must match "Bộ Y tế").
_INVISIBLE = dict.fromkeys(
    [0x00AD, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0xFEFF]
    + list(range(0x202A, 0x202F))
    + list(range(0x2066, 0x206A))
)
_BREAKING_INVISIBLE = {0x200B: " "}  # a zero-width space separated two words
# str.translate visits every character through a dict: scan with a regex first (C speed).
_ANY_INVISIBLE_RE = re.compile("[" + "".join(chr(cp) for cp in _INVISIBLE) + "]")


def _combining_class() -> str:
    """A regex class of the Basic Multilingual Plane's combining characters (what
    unicodedata.combining flags); BMP-only, the class compiles to a fast bitmap."""
    ranges: list[tuple[int, int]] = []
    for cp in range(0x10000):
        if unicodedata.combining(chr(cp)):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return "[" + "".join(f"{chr(a)}-{chr(b)}" if a != b else chr(a) for a, b in ranges) + "]+"


_COMBINING_RE = re.compile(_combining_class())


def _drop_combining(text: str) -> str:
    if text and max(text) > "\uffff":  # astral combining marks: rare, checked one by one
        return "".join(ch for ch in text if not unicodedata.combining(ch))
    return _COMBINING_RE.sub("", text)


def strip_invisible(text: str) -> str:
    """Text without zero-width and bidi control characters (a zero-width space becomes a
    space, since it separated two words)."""
    if not _ANY_INVISIBLE_RE.search(text):
        return text
    return text.translate(_BREAKING_INVISIBLE).translate(_INVISIBLE)


def is_valid_unicode(text: str) -> bool:
    """False for strings holding lone surrogates (JSON allows "\\ud800"; UTF-8 does not)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def repair_unicode(text: str) -> str:
    """Lone surrogates replaced by U+FFFD."""
    if is_valid_unicode(text):
        return text
    return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)


def nfc(text: str) -> str:
    """Unicode NFC without invisible controls: the form every stored and compared string uses."""
    return unicodedata.normalize("NFC", strip_invisible(text))


def _split_syllable(syllable: str) -> tuple[list[tuple[str, set[str]]], str | None]:
    """Decompose a lower/upper-case syllable into (letter, shape marks) and its tone mark."""
    letters: list[tuple[str, set[str]]] = []
    tone: str | None = None
    for ch in unicodedata.normalize("NFD", syllable):
        if ch in _TONE_MARKS:
            tone = ch
        elif unicodedata.combining(ch):
            if letters:
                letters[-1][1].add(ch)
        else:
            letters.append((ch, set()))
    return letters, tone


def _tone_position(letters: list[tuple[str, set[str]]]) -> int | None:
    """Index of the vowel that carries the tone, by the classic rule (hóa, thủy, ủy)."""
    lower = [c.lower() for c, _ in letters]
    vowel_idx = [i for i, c in enumerate(lower) if c in _VOWELS]
    if not vowel_idx:
        return None
    # "qu" and "gi" + vowel: the u / i belongs to the consonant.
    if (
        len(vowel_idx) > 1
        and vowel_idx[0] == 1
        and ((lower[0] == "q" and lower[1] == "u") or (lower[0] == "g" and lower[1] == "i"))
    ):
        vowel_idx = vowel_idx[1:]
    # Keep only the first contiguous run of vowels (the nucleus).
    run = [vowel_idx[0]]
    for i in vowel_idx[1:]:
        if i == run[-1] + 1:
            run.append(i)
        else:
            break
    shaped = [i for i in run if letters[i][1] & _SHAPE_MARKS]
    if shaped:
        return shaped[-1]  # ươ -> ơ ; otherwise the only shaped vowel
    if len(run) == 1:
        return run[0]
    if len(run) >= 3:
        return run[1]
    has_final = run[-1] < len(letters) - 1
    return run[1] if has_final else run[0]


@lru_cache(maxsize=65536)
def canonical_syllable(syllable: str) -> str:
    """Place the tone mark of one syllable by one fixed rule (``hoá`` -> ``hóa``)."""
    letters, tone = _split_syllable(syllable)
    if tone is None:
        return nfc(syllable)
    pos = _tone_position(letters)
    if pos is None:
        return nfc(syllable)
    out = []
    for i, (ch, marks) in enumerate(letters):
        out.append(ch + "".join(sorted(marks)) + (tone if i == pos else ""))
    return nfc("".join(out))


def canonical_tones(text: str) -> str:
    """NFC text with every syllable's tone mark placed by the same rule."""
    # Space-separated pieces repeat across a corpus far more than texts do, so each is
    # rewritten once (cached); a word never spans a space, so the result is the same.
    return " ".join(map(_canonical_piece, nfc(text).split(" ")))


@lru_cache(maxsize=262144)
def _canonical_piece(piece: str) -> str:
    return _WORD_RE.sub(lambda m: canonical_syllable(m.group(0)), piece)


@per_lexicon
def _misspellings(lex: Lexicon) -> dict[str, str]:
    """Scraping typos that change a common phrase (the lexicon's "misspellings"), in match
    form. Changing them changes indexed terms: rebuild the index after an edit."""
    return {
        canonical_tones(wrong).lower(): canonical_tones(right).lower()
        for wrong, right in lex.misspellings.items()
    }


def __getattr__(name: str) -> Any:
    """``KNOWN_MISSPELLINGS``: the lexicon's typo table, kept as a name for older callers."""
    if name == "KNOWN_MISSPELLINGS":
        return _misspellings()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def match_form(text: str) -> str:
    """The form text is matched in: NFC, one tone style, lower-case, known typos fixed."""
    out = canonical_tones(text).lower()
    for wrong, right in _misspellings().items():
        if wrong in out:
            out = out.replace(wrong, right)
    return out


def fold(text: str) -> str:
    """Remove every Vietnamese diacritic (and đ -> d); lower-cases too."""
    # Folding is per character (NFD's reordering never crosses a space, which is a
    # starter), so each space-separated piece is folded once and cached: a corpus repeats
    # its pieces far more than its texts (the folded lexical field folds every chunk).
    return " ".join(map(_fold_piece, text.lower().split(" ")))


@lru_cache(maxsize=65536)  # about 13 MB when full
def _fold_piece(piece: str) -> str:
    stripped = _drop_combining(unicodedata.normalize("NFD", piece))
    return stripped.replace("đ", "d").replace("Đ", "d")


def strip_marks(text: str) -> str:
    """Remove every diacritic but keep letter case (``Nam Định`` -> ``Nam Dinh``)."""
    stripped = _drop_combining(unicodedata.normalize("NFD", text))
    return stripped.replace("đ", "d").replace("Đ", "D")


def has_diacritics(text: str) -> bool:
    """True when any letter carries a Vietnamese diacritic (or is đ)."""
    return fold(text) != text.lower()


# Document numbers such as 749/QĐ-TTg, 09-NQ/TU, 122/KH-UBND, 17/NQ-CP.
DOC_NUMBER_RE = re.compile(r"\b\d+[\w]*(?:[/-][\wĐđ]+)+", re.UNICODE)


def syllables(text: str) -> list[str]:
    """Lower-cased, tone-canonical syllables of ``text`` (punctuation dropped)."""
    return _WORD_RE.findall(match_form(text))


def lexical_terms(text: str, *, folded: bool = False) -> list[str]:
    """Terms for BM25: syllables, adjacent syllable bigrams and whole document numbers.

    With ``folded=True`` every term is diacritic-free, for the accent-insensitive field.
    """
    return terms_of_form(match_form(text), folded=folded)


def terms_of_form(form: str, *, folded: bool = False) -> list[str]:
    """:func:`lexical_terms` of text already in match form (both fields share one form)."""
    if folded:
        form = fold(form)
    sylls = _WORD_RE.findall(form)
    terms = list(sylls)
    terms.extend(f"{a}_{b}" for a, b in zip(sylls, sylls[1:], strict=False))
    terms.extend("#" + m.group(0) for m in DOC_NUMBER_RE.finditer(form))
    return terms


def char_overlap_ratio(sentence: str, passage: str) -> float:
    """Share of the sentence's syllables that occur in the passage (both in match form)."""
    sent = syllables(sentence)
    if not sent:
        return 0.0
    vocab = set(syllables(passage))
    return sum(1 for s in sent if s in vocab) / len(sent)
