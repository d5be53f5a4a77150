"""Restoring accent-free questions: the corpus' counts mixed with how questions are worded."""

from __future__ import annotations

import json

import pytest

from evals.question_prior import question_counts
from index.accents import QuestionPrior, SyllableCounts, question_prior, restore
from index.errors import HoidapError
from index.lexical import LexicalIndex
from index.normalize import syllables


def counts_of(*texts: str, times: int = 1) -> SyllableCounts:
    counts = SyllableCounts()
    for text in texts:
        counts.add(syllables(text), times)
    return counts


# A legal corpus: «bảo» (bảo đảm, bảo vệ) is its common «bao», «nhiều» its «nhieu», and it
# never asks anything.
LEGAL = counts_of(
    "bảo đảm quyền lợi", "bảo vệ tài sản", "nhiều người", "phạt tù từ 03 năm", times=5
)
QUESTIONS = QuestionPrior(counts_of("bao nhiêu năm", "phạt bao nhiêu", "thế nào", times=3), 0.4)


def test_a_corpus_alone_misreads_question_words() -> None:
    assert restore(["bao", "nhieu", "nam"], LEGAL, None) == ["bảo", "nhiều", "năm"]


def test_the_question_table_restores_them_as_a_pair() -> None:
    assert restore(["bao", "nhieu", "nam"], LEGAL, QUESTIONS) == ["bao", "nhiêu", "năm"]
    # The corpus still decides its own terms.
    assert restore(["bao", "ve", "tai", "san"], LEGAL, QUESTIONS) == ["bảo", "vệ", "tài", "sản"]


def test_the_whole_sequence_decides_not_each_syllable_alone() -> None:
    # «phat tu bao nhieu»: «tù bảo» was never written, «bao nhiêu» was, so «bao».
    out = restore(["phat", "tu", "bao", "nhieu"], LEGAL, QUESTIONS)
    assert out == ["phạt", "tù", "bao", "nhiêu"]


def test_unknown_syllables_stay_as_typed() -> None:
    assert restore(["xyz", "bao", "nhieu"], LEGAL, QUESTIONS) == ["xyz", "bao", "nhiêu"]
    assert restore([], LEGAL, QUESTIONS) == []


def test_weight_zero_leaves_shared_syllables_to_the_corpus() -> None:
    off = QuestionPrior(QUESTIONS.counts, 0.0)
    assert restore(["bao", "ve"], LEGAL, off) == ["bảo", "vệ"]


def test_counts_survive_json() -> None:
    again = SyllableCounts.from_json(json.loads(json.dumps(QUESTIONS.counts.to_json())))
    assert again == QUESTIONS.counts


def test_question_counts_keep_only_what_several_domains_ask() -> None:
    counts = question_counts(
        {
            "legal": ["Tội trộm cắp bị phạt bao nhiêu năm?", "Ai là người đại diện?"],
            "medical": ["Uống bao nhiêu viên thuốc?", "Insulin là gì?"],
        },
        min_domains=2,
    )
    assert counts.bigrams[("bao", "nhieu")] == {("bao", "nhiêu"): 2}
    assert "insulin" not in counts.unigrams  # one domain's word
    assert ("trom", "cap") not in counts.bigrams
    assert counts.unigrams["la"] == {"là": 2}


def test_the_shipped_table_loads_and_fixes_the_legal_corpus() -> None:
    prior = question_prior()
    assert prior is not None and 0.0 < prior.weight < 1.0
    assert restore(["bao", "nhieu", "nam"], LEGAL, prior) == ["bao", "nhiêu", "năm"]
    # A medical corpus writes «não» (brain) and «thể» far more often, never next to each
    # other: the question pair wins over the corpus' single syllables.
    medical = counts_of("chấn thương não", "cơ thể", times=9)
    assert restore(["the", "nao"], medical, prior) == ["thế", "nào"]
    assert restore(["the", "nao"], medical, None) == ["thể", "não"]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("mat bao lau", "mất bao lâu"),
        ("hoa don dien tu la gi", "hóa đơn điện tử là gì"),
    ],
)
def test_lexical_index_restores_with_the_shipped_table(typed: str, expected: str) -> None:
    # The corpus writes «bảo hành» and «lau sạch»; questions ask «bao lâu» (the shipped
    # table is learned from the open-licence sets' Wikipedia questions).
    lex = LexicalIndex(
        ["a", "b"],
        ["Hóa đơn điện tử được lập khi bán hàng, nhà máy mất điện.", "Bảo hành lâu; lau sạch."],
    )
    assert lex.restore_diacritics(typed) == expected
    assert lex.restore_diacritics(typed, prior=None) != expected or typed.endswith("la gi")


def test_a_deployment_table_replaces_the_shipped_one(tmp_path, monkeypatch) -> None:
    table = tmp_path / "prior.json"
    table.write_text(json.dumps({"weight": 0.5, **counts_of("bảo nhiều", times=2).to_json()}))
    monkeypatch.setenv("HOIDAP_QUESTION_PRIOR", str(table))
    prior = question_prior()
    assert prior is not None and prior.weight == 0.5
    assert restore(["bao", "nhieu"], SyllableCounts(), prior) == ["bảo", "nhiều"]


@pytest.mark.parametrize("content", [None, "{not json", '{"weight": "heavy"}'])
def test_an_unreadable_table_is_a_clear_error(tmp_path, monkeypatch, content) -> None:
    table = tmp_path / "prior.json"
    if content is not None:
        table.write_text(content)
    monkeypatch.setenv("HOIDAP_QUESTION_PRIOR", str(table))
    with pytest.raises(HoidapError) as err:
        question_prior()
    assert "HOIDAP_QUESTION_PRIOR" in err.value.message_en or "malformed" in err.value.message_en
    assert "evals.question_prior" in err.value.message_en
