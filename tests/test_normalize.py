"""Vietnamese normalization: NFC, one tone-mark placement, case, known typos, folding."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.normalize import (
    _WORD_RE,
    canonical_syllable,
    canonical_tones,
    char_overlap_ratio,
    fold,
    has_diacritics,
    lexical_terms,
    match_form,
    nfc,
    strip_marks,
    syllables,
)

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def test_nfc_composes_decomposed_text() -> None:
    decomposed = nfd("Chuyển đổi số")
    assert decomposed != "Chuyển đổi số"  # the fixture really is NFD
    assert nfc(decomposed) == "Chuyển đổi số"


@pytest.mark.parametrize(
    ("new_style", "classic"),
    [
        ("hoá", "hóa"),
        ("uỷ", "ủy"),
        ("thuỷ", "thủy"),
        ("hoà", "hòa"),
        ("khoẻ", "khỏe"),
        ("thoả", "thỏa"),
        ("luỹ", "lũy"),
        ("Hoá", "Hóa"),
        ("UỶ", "ỦY"),
    ],
)
def test_tone_mark_placed_one_way(new_style: str, classic: str) -> None:
    assert canonical_syllable(new_style) == classic
    assert canonical_syllable(classic) == classic


@pytest.mark.parametrize(
    "word",
    ["quý", "giữa", "người", "chuyển", "thuở", "hoàng", "khuya", "được", "tuyến", "Đổi", "số"],
)
def test_words_with_a_fixed_tone_position_are_unchanged(word: str) -> None:
    assert canonical_syllable(word) == word


def test_canonical_tones_keeps_punctuation_and_spacing() -> None:
    text = "Uỷ ban, hoá đơn (thuỷ lợi): 15%!"
    assert canonical_tones(text) == "Ủy ban, hóa đơn (thủy lợi): 15%!"


def test_match_form_unifies_nfd_case_and_tone_style() -> None:
    forms = {
        match_form("Hóa đơn điện tử"),
        match_form("hoá đơn điện tử"),
        match_form(nfd("HOÁ ĐƠN ĐIỆN TỬ")),
    }
    assert forms == {"hóa đơn điện tử"}


def test_match_form_fixes_the_scraped_typo_but_display_text_is_untouched() -> None:
    original = "Thúc đẩy chuyển đối số gắn với trách nhiệm"
    assert "chuyển đổi số" in match_form(original)
    assert "đối" in original  # normalization never rewrites the caller's string


def test_fold_drops_every_diacritic() -> None:
    assert fold("Chuyển đổi số") == "chuyen doi so"
    assert fold("Đề án 06 của Ủy ban") == "de an 06 cua uy ban"
    assert fold(nfd("Người đứng đầu")) == "nguoi dung dau"


def test_has_diacritics() -> None:
    assert has_diacritics("chuyển đổi số")
    assert has_diacritics("đa")  # đ alone counts
    assert not has_diacritics("chuyen doi so")


def test_syllables_are_lower_case_canonical_and_punctuation_free() -> None:
    assert syllables("Uỷ ban (CĐS), hoá đơn!") == ["ủy", "ban", "cđs", "hóa", "đơn"]


def test_lexical_terms_have_syllables_bigrams_and_document_numbers() -> None:
    terms = lexical_terms("Quyết định số 749/QĐ-TTg về chuyển đổi số")
    assert "chuyển" in terms and "chuyển_đổi" in terms and "đổi_số" in terms
    assert "#749/qđ-ttg" in terms
    folded = lexical_terms("Quyết định số 749/QĐ-TTg về chuyển đổi số", folded=True)
    assert "chuyen_doi" in folded and "#749/qd-ttg" in folded
    assert all(not has_diacritics(t) for t in folded)


def test_char_overlap_ratio() -> None:
    passage = "Thủ tướng yêu cầu đẩy mạnh chuyển đổi số"
    assert char_overlap_ratio("thủ tướng yêu cầu", passage) == 1.0
    assert char_overlap_ratio("Thủ tướng đi Hà Nội", passage) == pytest.approx(0.4)
    assert char_overlap_ratio("", passage) == 0.0


# Real-shaped syllables: onset + nucleus + coda, one tone mark put on any vowel of the
# nucleus (so both the classic and the "new" placement styles are generated), any case.
_ONSETS = ["", "b", "ch", "đ", "gi", "h", "kh", "l", "ng", "nh", "qu", "th", "tr", "x"]
_NUCLEI = ["a", "ă", "â", "e", "ê", "i", "o", "ô", "ơ", "u", "ư", "y", "oa", "oe", "uy", "uê",
           "ươ", "iê", "uô", "ai", "ao", "oi", "ui", "uya", "oai", "ươi"]  # fmt: skip
_CODAS = ["", "c", "ch", "m", "n", "ng", "nh", "p", "t"]
_TONES = ["", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323"]


@st.composite
def _syllable(draw) -> str:
    nucleus = nfd(draw(st.sampled_from(_NUCLEI)))
    vowels = [i for i, ch in enumerate(nucleus) if not unicodedata.combining(ch)]
    at = draw(st.sampled_from(vowels))
    end = at + 1
    while end < len(nucleus) and unicodedata.combining(nucleus[end]):
        end += 1
    nucleus = nucleus[:end] + draw(st.sampled_from(_TONES)) + nucleus[end:]
    word = draw(st.sampled_from(_ONSETS)) + nucleus + draw(st.sampled_from(_CODAS))
    word = word.upper() if draw(st.booleans()) else word
    return nfc(word) if draw(st.booleans()) else word


_vi_text = st.lists(_syllable(), max_size=8).map(" ".join)


@settings(max_examples=200, deadline=None)
@given(_vi_text)
def test_canonical_tones_is_idempotent(text: str) -> None:
    once = canonical_tones(text)
    assert canonical_tones(once) == once
    assert once == nfc(once)


@settings(max_examples=200, deadline=None)
@given(_vi_text)
def test_match_form_ignores_unicode_form_and_folding_ignores_tone_moves(text: str) -> None:
    assert match_form(nfd(text)) == match_form(nfc(text))
    assert fold(match_form(text)) == fold(nfc(text).lower())


# -- the fast paths give exactly the plain definitions' results ------------------------
def _plain_strip(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _plain_fold(text: str) -> str:
    return _plain_strip(text.lower()).replace("đ", "d").replace("Đ", "d")


def _plain_canonical_tones(text: str) -> str:
    return _WORD_RE.sub(lambda m: canonical_syllable(m.group(0)), nfc(text))


TRICKY = [
    "Bộ\u200bY tế  hoá\u00ad đơn",  # zero-width space, soft hyphen, double space
    "e\u0301\u0300 x\u0483y",  # stacked marks, a Cyrillic combining mark
    "a\U0001d167b \U0001d400",  # an astral combining mark and an astral letter
    "  a  b\n c\t",
    "ÀÁ Đđ hOÁ THUỶ",
    "\ufeffxin chào\u202e",
    "",
]


def _assert_fast_equals_plain(text: str) -> None:
    assert fold(text) == _plain_fold(text)
    assert strip_marks(text) == _plain_strip(text).replace("đ", "d").replace("Đ", "D")
    assert canonical_tones(text) == _plain_canonical_tones(text)


def test_fast_fold_and_tones_equal_the_plain_definitions() -> None:
    for text in TRICKY + [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))]:
        _assert_fast_equals_plain(text)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_fast_paths_equal_the_plain_definitions_on_any_text(text: str) -> None:
    _assert_fast_equals_plain(text)
