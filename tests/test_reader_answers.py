"""The assistant with the learned reader on the seed articles (real e5 embeddings, real ONNX graph)."""

from __future__ import annotations

import dataclasses

import pytest

from assistant.answering.answer import REFUSAL_TEXT
from index.normalize import has_diacritics


@pytest.fixture(scope="module")
def reader_assistant(seed_settings):
    from assistant.answering.assistant import Assistant

    assistant = Assistant(dataclasses.replace(seed_settings, answerer="reader"))
    assistant.warm_up()
    return assistant


def _check_citations(answer) -> None:
    assert answer.citations
    for c in answer.citations:
        assert f"[{c.n}]" in answer.answer
        assert c.quote and c.quote in c.text


@pytest.mark.slow
def test_reader_cites_a_sentence_it_read(reader_assistant):
    answer = reader_assistant.ask("Đề án 06 là gì?")
    assert not answer.refused
    assert "Đề án 06" in answer.answer
    assert answer.citations[0].source == "001_c7e9e54a34adfa75.txt"
    _check_citations(answer)


@pytest.mark.slow
def test_accent_free_questions_reach_the_reader_with_accents(reader_assistant):
    analysis = reader_assistant.analyse("de an 06 la gi")
    assert has_diacritics(analysis.reading.question)
    answer = reader_assistant.ask("de an 06 la gi")
    assert not answer.refused and "Đề án 06" in answer.answer


@pytest.mark.slow
def test_reader_cites_the_defining_sentence_of_an_abbreviated_name(reader_assistant):
    answer = reader_assistant.ask("de an 06 la gi")
    assert "Đề án Phát triển ứng dụng dữ liệu về dân cư" in answer.answer


@pytest.mark.slow
def test_reader_refuses_what_the_articles_do_not_say(reader_assistant):
    answer = reader_assistant.ask("Giá vàng SJC hôm nay bao nhiêu?")
    assert answer.refused and answer.answer == REFUSAL_TEXT and answer.citations == []


@pytest.mark.slow
def test_a_near_miss_has_less_support_than_a_question_the_articles_answer(reader_assistant):
    # The articles name no chairman of Tuyen Quang's People's Committee. At the threshold
    # chosen on the validation collections this near miss is answered (evals/README.md:
    # the reader refuses 20 % of the seed held-out near misses); its support stays below
    # that of a question the articles answer.
    near_miss = reader_assistant.analyse("Ai là Chủ tịch UBND tỉnh Tuyên Quang?")
    answered = reader_assistant.analyse("Đề án 06 là gì?")
    assert near_miss.support < answered.support - 0.3


@pytest.mark.slow
def test_reader_inputs_are_recorded_for_the_eval_report(reader_assistant):
    analysis = reader_assistant.analyse("Đề án 06 là gì?")
    assert 0.0 <= analysis.support <= 1.0
    assert {"best_logit", "passage_logit", "check_score"} <= set(analysis.features)
    assert analysis.checks is not None and analysis.checks.scores
    # No hand-written check refuses on its own: none helped on every held-out collection.
    assert analysis.blocking == []


def test_unknown_answerer_is_a_clear_error(tmp_path):
    from assistant.answering.assistant import Assistant
    from index.config import Settings
    from index.errors import ConfigError

    settings = Settings.load(env={"HOIDAP_HOME": str(tmp_path), "HOIDAP_ANSWERER": "magic"})
    with pytest.raises(ConfigError, match="reader"):
        Assistant(settings)


@pytest.mark.parametrize(
    ("question", "english"),
    [
        ("de an 06 la gi", False),  # "an" looks English; every word is a Vietnamese syllable
        ("nam dinh ban hanh ke hoach so may ve cds", False),
        ("On what date did the Politburo issue Resolution 52-NQ/TW?", True),
        ("Which company did the Nam Dinh provincial People's Committee sign with?", True),
    ],
)
def test_accent_free_vietnamese_is_not_read_as_english(question, english):
    from assistant.answering.query import plan_query

    plan = plan_query(question, restore=lambda text: text)
    assert plan.english is english
    assert plan.accentless is not english
