"""Every example question the chat UI offers is answered, with the fact it asks for cited
(default answerer, real seed index). The UI shows them as chips: a chip that fails is the
first thing a new user sees."""

from __future__ import annotations

import pytest

from assistant.web.ui_format import example_questions

# What each shipped example asks for, as the seed articles state it.
EXPECTED = {
    "Thủ tướng giao Bộ Tài chính nhiệm vụ gì?": "hoá đơn điện tử",
    "Đề án 06 là gì?": "Đề án Phát triển ứng dụng dữ liệu về dân cư",
    "Nam Định ban hành kế hoạch số mấy về CĐS?": "122/KH-UBND",
    "nam dinh ban hanh ke hoach so may ve cds": "122/KH-UBND",
}


def test_every_shipped_example_has_an_expected_fact() -> None:
    assert set(example_questions()) == set(EXPECTED)


@pytest.mark.slow
@pytest.mark.parametrize("question", list(EXPECTED))
def test_example_question_is_answered_with_its_fact(seed_assistant, question: str) -> None:
    answer = seed_assistant.ask(question)
    assert not answer.refused, question
    assert EXPECTED[question] in answer.answer
    assert answer.citations and "[1]" in answer.answer
    cited = answer.citations[0]
    assert EXPECTED[question] in cited.text and cited.quote in cited.text
