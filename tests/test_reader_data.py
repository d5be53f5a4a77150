"""Training examples: the hard passage negatives a retriever would hand the reader."""

from __future__ import annotations

from evals.reader.data import OverlapIndex, Row, build_examples

FILLER = " ".join(f"Khoản {i} nói về thủ tục hành chính số {i} của cơ quan." for i in range(12))
CONTEXTS = [
    "Người lao động được nghỉ phép năm 12 ngày. Lương được trả vào ngày 5 hằng tháng. "
    + FILLER
    + " Người lao động được nghỉ việc riêng khi kết hôn.",
    "Người lao động làm việc ở nơi nặng nhọc được nghỉ phép năm 14 ngày. Hợp đồng ghi rõ.",
    "Sinh viên phải đăng ký học phần trước ngày 15. Học phí đóng theo học kỳ.",
    "Thuốc uống sau bữa ăn. Trẻ em dùng nửa liều.",
]


def _rows() -> list[Row]:
    return [
        Row("Người lao động được nghỉ phép năm bao nhiêu ngày?", "12 ngày", CONTEXTS[0], True),
        Row("Hợp đồng ghi gì?", "ghi rõ", CONTEXTS[1], True),
        Row("Học phí đóng khi nào?", "theo học kỳ", CONTEXTS[2], True),
        Row("Trẻ em dùng bao nhiêu?", "nửa liều", CONTEXTS[3], True),
    ]


def test_the_hard_negative_is_the_most_question_like_other_context_without_the_answer():
    index = OverlapIndex(CONTEXTS)
    question = "Người lao động được nghỉ phép năm bao nhiêu ngày?"
    assert index.best_other(question, CONTEXTS[0], "12 ngày") == CONTEXTS[1]
    # A context that holds the answer is never a negative.
    assert index.best_other(question, CONTEXTS[1], "12 ngày") != CONTEXTS[0]


def test_hard_examples_add_both_negatives_and_leave_the_shipped_recipe_unchanged():
    plain = build_examples(_rows(), "toy", 0)
    again = build_examples(_rows(), "toy", 0, hard=False)
    assert [(e.question, e.passage, e.kind) for e in plain] == [
        (e.question, e.passage, e.kind) for e in again
    ]
    hard = build_examples(_rows(), "toy", 0, hard=True)
    negatives = [e for e in hard if e.kind == "passage_negative"]
    first = [e.passage for e in negatives if e.question == _rows()[0].question]
    assert any("14 ngày" in p for p in first)  # the look-alike article
    assert all("12 ngày" not in p for p in first)
    assert any("nghỉ việc riêng" in p for p in first)  # the echoing sentence of its own article
    assert all(not any(e.labels) for e in negatives)
