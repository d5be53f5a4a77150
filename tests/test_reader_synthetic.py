"""In-situ synthetic questions for reader training (``evals.reader.synthetic``)."""

from __future__ import annotations

import random

from evals.reader.synthetic import definition_question, measure_words, questions_from

CONTEXTS = [
    "Người phạm tội bị phạt tù từ 05 năm. Thời hạn tập nghề không quá 03 tháng.",
    "Sinh viên được nghỉ tối đa 02 tuần. Học phần kéo dài 15 tuần.",
    "Trẻ dưới 12 tuổi không dùng. Người trên 60 tuổi cần theo dõi 3 tháng.",
    "Luật này có hiệu lực thi hành từ ngày 01 tháng 01 năm 2019. Lớp học có 2 năm thực hành.",
]


def test_measure_words_are_the_words_that_count_things_after_numbers():
    words = measure_words(CONTEXTS, min_count=2)
    assert {"năm", "tháng", "tuần", "tuổi"} <= words
    assert "không" not in words and "cần" not in words


def test_a_quantity_becomes_an_in_situ_question_with_its_span_as_answer():
    measures = measure_words(CONTEXTS, min_count=2)
    context = "Theo quy định hiện hành, thời hạn tập nghề không quá 03 tháng kể từ ngày ký."
    rows = questions_from(context, measures, random.Random(0), per_context=3)
    assert [(r.question, r.answer) for r in rows] == [
        (
            "Theo quy định hiện hành, thời hạn tập nghề không quá bao nhiêu tháng kể từ ngày ký?",
            "03 tháng",
        )
    ] or [(r.question, r.answer) for r in rows] == [
        ("Thời hạn tập nghề không quá bao nhiêu tháng kể từ ngày ký?", "03 tháng")
    ]
    assert all(r.extractive and r.answer in r.context for r in rows)


def test_dates_are_asked_with_ngay_nao_and_repeated_answers_are_skipped():
    measures = measure_words(CONTEXTS, min_count=2)
    dated = "Luật này có hiệu lực thi hành từ ngày 01 tháng 01 năm 2019."
    (row,) = questions_from(dated, measures, random.Random(0))
    assert row.question == "Luật này có hiệu lực thi hành từ ngày nào?"
    assert row.answer == "ngày 01 tháng 01 năm 2019"
    twice = "Người lao động được nghỉ 05 ngày. Người sử dụng lao động báo trước 05 ngày."
    assert questions_from(twice, measures, random.Random(0)) == []


def test_definitions_need_a_noun_phrase_subject():
    assert definition_question("Tăng sản nội mạc tử cung là tình trạng nội mạc quá dày.") == (
        "Tăng sản nội mạc tử cung là gì?",
        "tình trạng nội mạc quá dày",
    )
    assert definition_question("Sau đó là bước kiểm tra lại kết quả.") is None  # no subject
    assert definition_question("Nguyên nhân có thể là do nhiễm khuẩn kéo dài.") is None  # hedged
