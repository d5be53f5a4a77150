"""Formatting for the chat UI: escaping, quote highlighting, chat history round trips."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.answering.answer import REFUSAL_TEXT, Answer, Citation
from assistant.web.ui_format import (
    EXAMPLE_QUESTIONS,
    SOURCES_NONE,
    SOURCES_PLACEHOLDER,
    UNEXPECTED_ERROR,
    error_message,
    escape_markdown,
    format_answer,
    format_date,
    rating_from_like,
    render_conversation_sources,
    render_sources,
    to_assistant_history,
    unescape_markdown,
)
from index.errors import IndexEmpty, InvalidQuestion

PASSAGE = (
    "Chiều 30/11, Thủ tướng chủ trì phiên họp. Thủ tướng giao Bộ Tài chính bố trí kinh phí "
    "cho chuyển đổi số. Các bộ cần hoàn thành trước năm 2025."
)
QUOTE = "Thủ tướng giao Bộ Tài chính bố trí kinh phí cho chuyển đổi số."


def cite(n: int = 1, text: str = PASSAGE, quote: str = QUOTE, **kw) -> Citation:
    fields = {
        "source": "000_seed.txt",
        "title": "Thúc đẩy chuyển đổi số",
        "date": "2021-11-30",
        "chunk_id": f"c{n}",
    }
    fields.update(kw)
    return Citation(n=n, text=text, quote=quote, **fields)


def make_answer(text: str = f"{QUOTE} [1]", citations=None, **kw) -> Answer:
    fields = {"refused": False, "mode": "extractive", "latency_ms": 12.0}
    fields.update(kw)
    return Answer(
        question="Thủ tướng giao Bộ Tài chính nhiệm vụ gì?",
        answer=text,
        citations=[cite()] if citations is None else citations,
        **fields,
    )


# -- sources panel -------------------------------------------------------------------------
def test_sources_show_number_title_date_and_highlighted_quote_never_the_file() -> None:
    html = render_sources(make_answer())
    assert '<span class="hoidap-source-n">[1]</span>' in html
    assert "Thúc đẩy chuyển đổi số" in html
    assert "Ngày đăng: 30/11/2021" in html
    assert "000_seed.txt" not in html and "Tệp" not in html  # an internal name says nothing
    assert "<a " not in html  # a file has no original to link to
    assert f'<mark class="hoidap-quote">{QUOTE}</mark>' in html
    # the whole passage is shown around the highlight
    assert "Chiều 30/11, Thủ tướng chủ trì phiên họp. <mark" in html
    assert "</mark> Các bộ cần hoàn thành trước năm 2025." in html
    assert "hoidap-source-quote" not in html  # quote found: not repeated separately


def test_everything_from_documents_is_escaped() -> None:
    evil = "<script>alert(1)</script>"
    c = cite(
        text=f"Mở đầu {evil} & đoạn giữa <b>đậm</b>. {QUOTE}",
        quote="đoạn giữa <b>đậm</b>.",
        title=f"Tiêu đề {evil}",
        source='x"><img src=x onerror=alert(1)>.txt',
        date="<i>hôm qua</i>",
    )
    html = render_sources(make_answer(citations=[c]))
    assert "<script>" not in html and "<b>" not in html and "<img" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<mark class="hoidap-quote">đoạn giữa &lt;b&gt;đậm&lt;/b&gt;.</mark>' in html
    assert "&amp; " in html
    assert "&lt;i&gt;hôm qua&lt;/i&gt;" in html


def test_quote_not_in_passage_is_shown_separately() -> None:
    c = cite(quote="Một câu <không> có trong đoạn.")
    html = render_sources(make_answer(citations=[c]))
    block = html.split('<blockquote class="hoidap-source-text">')[1]
    assert "<mark" not in block  # the passage itself has no highlight
    assert (
        '<div class="hoidap-source-quote">Trích dẫn: '
        '<mark class="hoidap-quote">Một câu &lt;không&gt; có trong đoạn.</mark></div>'
    ) in html


def test_quote_matches_across_line_breaks() -> None:
    c = cite(
        text="Đầu đoạn. Thủ tướng giao\nBộ Tài chính   bố trí kinh phí. Cuối.",
        quote="Thủ tướng giao Bộ Tài chính bố trí kinh phí.",
    )
    html = render_sources(make_answer(citations=[c]))
    assert (
        '<mark class="hoidap-quote">Thủ tướng giao\nBộ Tài chính   bố trí kinh phí.</mark>' in html
    )
    assert "hoidap-source-quote" not in html


def test_several_citations_in_order() -> None:
    cites = [cite(1), cite(2, title="Bài thứ hai", source="001_seed.txt", date=None)]
    html = render_sources(make_answer(f"{QUOTE} [1] [2]", cites))
    assert html.index('data-n="1"') < html.index('data-n="2"')
    second = html[html.index('data-n="2"') :]
    assert "Bài thứ hai" in second and "Ngày đăng" not in second  # no date: none shown


def test_a_web_article_links_to_its_original() -> None:
    url = "https://laocai.example.gov.vn/tin-tuc/bai-1234.html?a=1&b=2"
    html = render_sources(make_answer(citations=[cite(source=url, url=url)]))
    assert (
        '<a class="hoidap-source-link" href="https://laocai.example.gov.vn/tin-tuc/bai-1234.html'
        '?a=1&amp;b=2" target="_blank" rel="noopener noreferrer">Xem bài gốc</a>'
    ) in html
    # Only web addresses become links.
    html = render_sources(make_answer(citations=[cite(url="javascript:alert(1)")]))
    assert "javascript:" not in html and "<a " not in html


def test_the_chat_sources_line_has_titles_and_dates_not_files() -> None:
    cites = [cite(1), cite(2, title="", source="004_f3d8c4cbb43199e1.txt", date=None)]
    text = format_answer(make_answer(f"{QUOTE} [1] [2]", cites))
    assert "[1] Thúc đẩy chuyển đổi số (30/11/2021); [2] Bài viết không có tiêu đề" in text
    assert ".txt" not in text and "không rõ ngày" not in text


def test_sources_panel_for_refusal_and_nothing_yet() -> None:
    refused = make_answer(REFUSAL_TEXT, citations=[], refused=True)
    assert render_sources(refused) == SOURCES_NONE
    assert render_sources(None) == SOURCES_PLACEHOLDER


# -- chat text -----------------------------------------------------------------------------
def test_answer_text_with_sources_line_and_italic_notice() -> None:
    notice = "Mô hình ngôn ngữ hiện không phản hồi."
    text = format_answer(make_answer(notice=notice))
    body, sources, notice_line = text.split("\n\n")
    assert body == f"{QUOTE} [1]"
    assert sources == "**Nguồn:** [1] Thúc đẩy chuyển đổi số (30/11/2021)"
    assert notice_line == f"*{notice}*"


def test_refusal_is_a_plain_answer() -> None:
    assert format_answer(make_answer(REFUSAL_TEXT, citations=[], refused=True)) == REFUSAL_TEXT


def test_markdown_and_html_in_answer_are_escaped() -> None:
    text = format_answer(make_answer("Giá *giảm* <b>5%</b> [x](http://evil) [1]", citations=[]))
    assert text == r"Giá \*giảm\* \<b\>5%\</b\> [x]\(http://evil) [1]"


@pytest.mark.parametrize(
    "line",
    ["# Tiêu đề", "- gạch đầu dòng", "1. mục một", "> trích", "===", "a_b_c", "C:\\thư mục"],
)
def test_escape_round_trip_examples(line: str) -> None:
    escaped = escape_markdown(line)
    assert unescape_markdown(escaped) == line
    if line[0] in "#->=":
        assert escaped.startswith("\\")


@given(st.text(alphabet=st.sampled_from(list("ab \n\\`*_~<>|[]()#+-=.1đ")), max_size=40))
def test_escape_round_trip_property(text: str) -> None:
    assert unescape_markdown(escape_markdown(text)) == text


def test_history_from_gradio_messages_strips_decoration() -> None:
    answer = make_answer("Kế hoạch số 122/KH-UBND *mới* [1]", notice="Lưu ý ngắn.")
    messages = [
        {"role": "system", "content": "ignored"},
        {
            "role": "user",
            "content": [{"type": "text", "text": escape_markdown("Nam Định *ban hành* gì?")}],
        },
        {"role": "assistant", "content": [{"type": "text", "text": format_answer(answer)}]},
        {"role": "user", "content": [{"type": "file", "file": {"path": "/tmp/x.png"}}]},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "Còn Hà Nội?"},
    ]
    assert to_assistant_history(messages) == [
        {"role": "user", "content": "Nam Định *ban hành* gì?"},
        {"role": "assistant", "content": "Kế hoạch số 122/KH-UBND *mới* [1]"},
        {"role": "user", "content": "Còn Hà Nội?"},
    ]


def test_history_accepts_message_objects_and_empty() -> None:
    class Msg:
        def __init__(self, role: str, content: str):
            self.role, self.content = role, content

    assert to_assistant_history(None) == []
    assert to_assistant_history([Msg("user", "Đề án 06?")]) == [
        {"role": "user", "content": "Đề án 06?"}
    ]


# -- small helpers -------------------------------------------------------------------------
def test_examples_include_an_accent_free_question() -> None:
    assert len(EXAMPLE_QUESTIONS) >= 4
    assert "Thủ tướng giao Bộ Tài chính nhiệm vụ gì?" in EXAMPLE_QUESTIONS
    assert any(q.isascii() for q in EXAMPLE_QUESTIONS)


def test_dates() -> None:
    assert format_date("2023-05-09") == "09/05/2023"
    assert format_date(None) == "không rõ ngày"
    assert format_date("Thứ 3, 30/11/2021") == "Thứ 3, 30/11/2021"


def test_like_payload_to_rating() -> None:
    assert rating_from_like(True) == 1 and rating_from_like("Like") == 1
    assert rating_from_like(False) == -1 and rating_from_like("Dislike") == -1
    assert rating_from_like("") is None and rating_from_like(None) is None


def test_error_messages_are_vietnamese_and_never_a_traceback() -> None:
    exc = InvalidQuestion("too long", "Câu hỏi dài quá; hãy rút gọn.", code="question_too_long")
    assert error_message(exc) == "Lỗi: Câu hỏi dài quá; hãy rút gọn."
    assert "hoidap index" in error_message(IndexEmpty("empty", "Hãy chạy `hoidap index`."))
    secret = error_message(RuntimeError("Traceback (most recent call last): /secret/path"))
    assert secret == UNEXPECTED_ERROR and "/secret/path" not in secret


# -- markers that link to their cards -------------------------------------------------------
def test_markers_link_to_their_cards_and_the_history_gets_plain_markers_back() -> None:
    answer = make_answer(f"{QUOTE} [1] Con số [7] trong bài. [2]", [cite(1), cite(2)])
    text = format_answer(answer, turn=3)
    body = text.split("\n\n")[0]
    assert r"[\[1\]](#hoidap-src-3-1)" in body and r"[\[2\]](#hoidap-src-3-2)" in body
    assert "[7]" in body and "hoidap-src-3-7" not in body  # not a citation: left as text
    panel = render_sources(answer, turn=3)
    assert 'id="hoidap-src-3-1"' in panel and 'id="hoidap-src-3-2"' in panel
    history = to_assistant_history(
        [{"role": "user", "content": "Hỏi?"}, {"role": "assistant", "content": text}]
    )
    assert history[1]["content"] == answer.answer
    assert format_answer(answer) == format_answer(answer, turn=None)  # no links without a turn
    assert "hoidap-src" not in format_answer(answer)


def test_the_panel_keeps_every_answers_sources_latest_first() -> None:
    first = dataclasses.replace(make_answer(), question="Câu hỏi <một>?")
    second = dataclasses.replace(
        make_answer(citations=[cite(1, source="001_seed.txt")]), question="Câu hỏi hai?"
    )
    refused = make_answer(REFUSAL_TEXT, citations=[], refused=True)
    panel = render_conversation_sources([(1, first), (3, second), (5, refused)])
    assert panel.index('id="hoidap-src-3-1"') < panel.index('id="hoidap-src-1-1"')
    assert "Câu hỏi &lt;một&gt;?" in panel and "<một>" not in panel
    assert render_conversation_sources([]) == SOURCES_PLACEHOLDER
    assert render_conversation_sources([(1, refused)]) == SOURCES_NONE
