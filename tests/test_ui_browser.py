"""The Gradio chat UI in a real headless Chromium over the real seed index.

The UI is launched on loopback the way ``hoidap serve`` would serve it; the page is
driven like a user would: type, send, read the chat and the sources panel, vote.
"""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import gradio as gr
import pytest
from playwright import sync_api
from test_example_questions import EXPECTED as EXPECTED_FACTS

from assistant.answering.answer import REFUSAL_TEXT, Answer, Citation
from assistant.answering.assistant import EMPTY_INDEX_MESSAGE, LLM_FALLBACK_NOTICE, Assistant
from assistant.web.ui import TITLE, build_ui
from assistant.web.ui_format import SOURCES_NONE, SOURCES_PLACEHOLDER

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("HOIDAP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
QUESTION = "Thủ tướng giao Bộ Tài chính nhiệm vụ gì?"
OFF_TOPIC = "Giá vàng hôm nay bao nhiêu?"
TIMEOUT_MS = 30_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(assistant: Assistant, settings) -> tuple[gr.Blocks, str]:
    demo = build_ui(assistant, settings)
    port = _free_port()
    demo.queue().launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True
    )
    return demo, f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def ui_assistant(seed_settings, seed_assistant) -> Assistant:
    # Pin the refusal threshold so these UI checks do not depend on the shipped
    # calibration: the seed question scores ~0.9, the gold-price question ~0.2.
    settings = replace(seed_settings, refusal_threshold=0.5)
    assistant = Assistant(settings, embedder=seed_assistant.embedder)
    assistant.warm_up()
    return assistant


@pytest.fixture(scope="module")
def ui(ui_assistant, seed_settings, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """(page URL, feedback database path); feedback goes to a private data dir."""
    ui_settings = replace(seed_settings, home=tmp_path_factory.mktemp("ui-home"))
    demo, url = _launch(ui_assistant, ui_settings)
    try:
        yield url, ui_settings.home / "feedback.sqlite3"
    finally:
        demo.close()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium (or make browser)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, ui):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    pg.goto(ui[0])
    pg.get_by_placeholder("Nhập câu hỏi").wait_for()
    try:
        yield pg
    finally:
        context.close()


# Records every distinct text of the last bot bubble, to see the answer arrive in pieces.
RECORD_BOT_TEXT = """() => {
  window.__botTexts = [];
  const chat = document.querySelector("#hoidap-chat");
  new MutationObserver(() => {
    const bots = chat.querySelectorAll("[data-testid='bot']");
    if (!bots.length) return;
    const text = bots[bots.length - 1].innerText;
    if (window.__botTexts.at(-1) !== text) window.__botTexts.push(text);
  }).observe(chat, {subtree: true, childList: true, characterData: true});
}"""


def ask(page, question: str) -> None:
    page.get_by_placeholder("Nhập câu hỏi").fill(question)
    page.locator("#hoidap-send").click()


def bot_messages(page):
    return page.locator("#hoidap-chat [data-testid='bot']")


def wait_answer(page, n: int = 1) -> str:
    """Text of the n-th bot bubble once the answer is final (the sources line is last)."""
    sync_api.expect(bot_messages(page)).to_have_count(n)
    sync_api.expect(page.locator("#hoidap-sources")).not_to_contain_text("Đang tìm")
    return bot_messages(page).nth(n - 1).inner_text()


def test_extractive_answer_appears_whole_with_highlighted_sources(page, ui_assistant) -> None:
    expected = ui_assistant.ask(QUESTION)
    assert not expected.refused and expected.citations
    started = time.perf_counter()
    assert page.title() == TITLE
    page.evaluate(RECORD_BOT_TEXT)
    ask(page, QUESTION)
    # the user's bubble and the assistant's bubble appear; the answer text arrives whole
    sync_api.expect(page.locator("#hoidap-chat [data-testid='user']")).to_have_text(QUESTION)
    sync_api.expect(bot_messages(page).first).to_contain_text(expected.answer[:60])
    mark = page.locator("#hoidap-sources mark.hoidap-quote").first
    mark.wait_for()
    elapsed = time.perf_counter() - started

    text = wait_answer(page)
    snapshots = [t.strip() for t in page.evaluate("window.__botTexts") if t.strip()]
    # An extractive answer is known in full at once: never replayed word by word.
    partial = [t for t in snapshots if "Nguồn:" not in t and len(t) < len(expected.answer)]
    assert partial == [], f"answer was replayed in pieces: {snapshots}"
    assert "Nguồn:" in text and f"[1] {expected.citations[0].title}" in text
    first = expected.citations[0]
    card = page.locator("#hoidap-sources article.hoidap-source").first
    sync_api.expect(card.locator(".hoidap-source-title")).to_have_text(first.title)
    sync_api.expect(card.locator(".hoidap-source-n")).to_have_text("[1]")
    assert first.source not in card.inner_text()  # the internal file name is never shown
    if first.date:
        day = "/".join(reversed(first.date.split("-")))
        sync_api.expect(card.locator(".hoidap-source-meta")).to_have_text(f"Ngày đăng: {day}")
    assert " ".join(first.quote.split()) in " ".join(mark.inner_text().split())
    assert page.get_by_placeholder("Nhập câu hỏi").input_value() == ""  # box cleared
    assert elapsed < 20, f"answer took {elapsed:.1f}s"

    (ROOT / "docs").mkdir(exist_ok=True)
    page.screenshot(path=str(ROOT / "docs" / "ui-chat.png"), full_page=True)

    # a follow-up goes out with the conversation so far
    ask(page, "Còn Đề án 06 là gì?")
    assert wait_answer(page, 2).strip()
    sync_api.expect(page.locator("#hoidap-chat [data-testid='user']")).to_have_count(2)

    page.get_by_role("button", name="Cuộc trò chuyện mới").click()
    sync_api.expect(page.locator("#hoidap-chat [data-testid='user']")).to_have_count(0)
    sync_api.expect(bot_messages(page)).to_have_count(0)
    sync_api.expect(page.locator("#hoidap-sources")).to_contain_text(
        "Nguồn trích dẫn sẽ hiện ở đây"
    )
    assert "sẽ hiện ở đây" in SOURCES_PLACEHOLDER


def test_off_topic_question_gets_the_refusal_as_a_normal_answer(page) -> None:
    ask(page, OFF_TOPIC)
    sync_api.expect(bot_messages(page).first).to_have_text(REFUSAL_TEXT)
    sync_api.expect(page.locator("#hoidap-sources")).to_contain_text("không trích dẫn bài viết nào")
    assert "không trích dẫn bài viết nào" in SOURCES_NONE
    assert page.locator("#hoidap-sources mark").count() == 0
    assert page.locator("#hoidap-status").inner_text().strip() == ""


def test_thumbs_down_with_reason_is_stored(page, ui) -> None:
    db = ui[1]
    ask(page, "Đề án 06 là gì?")
    wait_answer(page)
    page.locator("#hoidap-reason textarea").fill("Trích sai đoạn")
    page.locator("#hoidap-chat").get_by_role("button", name="Dislike").last.click()
    sync_api.expect(page.locator("#hoidap-status")).to_contain_text("Đã ghi nhận góp ý")
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT question, rating, reason, refused FROM feedback ORDER BY id DESC LIMIT 1"
        ).fetchall()
    assert rows == [("Đề án 06 là gì?", -1, "Trích sai đoạn", 0)]
    sync_api.expect(page.locator("#hoidap-reason textarea")).to_have_value("")

    # changing the vote replaces the row; a reason can follow the click
    before = _count_rows(db)
    page.locator("#hoidap-chat").get_by_role("button", name="Like").last.click()
    sync_api.expect(page.locator("#hoidap-status")).to_contain_text("Cảm ơn bạn đã góp ý")
    page.locator("#hoidap-reason textarea").fill("Đúng và đủ")
    page.get_by_role("button", name="Gửi lý do").click()
    sync_api.expect(page.locator("#hoidap-status")).to_contain_text("Đã lưu lý do")
    assert _count_rows(db) == before
    with sqlite3.connect(db) as conn:
        last = conn.execute(
            "SELECT rating, reason FROM feedback ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert last == (1, "Đúng và đủ")


def _count_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]


def test_invalid_questions_show_a_vietnamese_message(page) -> None:
    page.locator("#hoidap-send").click()  # empty box
    sync_api.expect(page.locator("#hoidap-status")).to_contain_text("Câu hỏi đang trống")
    ask(page, "a" * 2001)
    sync_api.expect(page.locator("#hoidap-status")).to_contain_text("vượt giới hạn 2000 ký tự")
    assert bot_messages(page).count() == 0  # errors never enter the conversation
    assert page.get_by_placeholder("Nhập câu hỏi").input_value() == "a" * 2001  # kept to edit
    assert "Traceback" not in page.content()


def test_empty_index_shows_how_to_fix_it(browser, fake_settings) -> None:
    demo, url = _launch(Assistant(fake_settings), fake_settings)
    context = browser.new_context(locale="en-US")
    try:
        pg = context.new_page()
        pg.set_default_timeout(TIMEOUT_MS)
        pg.goto(url)
        ask(pg, QUESTION)
        sync_api.expect(pg.locator("#hoidap-status")).to_contain_text("Chưa có bài viết nào")
        assert "hoidap index" in EMPTY_INDEX_MESSAGE
        assert bot_messages(pg).count() == 0
        assert "Traceback" not in pg.content()
    finally:
        context.close()
        demo.close()


class ScriptedAssistant(Assistant):
    """Replays the event stream of an LLM that fails mid-answer (the pipeline's contract:
    tokens, then ``reset``, then the extractive fallback and ``final``)."""

    def stream(self, question: str, history: list[dict] | None = None):
        self.validate(question)
        yield {"type": "token", "text": "Bản nháp"}
        yield {"type": "token", "text": " bị hỏng"}
        yield {"type": "reset", "text": ""}
        passage = "Đề án 06 về dữ liệu dân cư <b>quốc gia</b>. Câu khác."
        quote = "Đề án 06 về dữ liệu dân cư <b>quốc gia</b>."
        yield {"type": "token", "text": quote}
        yield {"type": "token", "text": " [1]"}
        citation = Citation(1, "001_x.txt", "Đề án 06", "2023-05-09", "c1", passage, quote)
        answer = Answer(question, f"{quote} [1]", False, [citation], "extractive", 5.0)
        answer.notice = LLM_FALLBACK_NOTICE
        yield {"type": "final", "answer": answer}


def test_llm_failure_reset_discards_the_draft_and_shows_the_notice(browser, fake_settings) -> None:
    demo, url = _launch(ScriptedAssistant(fake_settings), fake_settings)
    context = browser.new_context(locale="en-US")
    try:
        pg = context.new_page()
        pg.set_default_timeout(TIMEOUT_MS)
        pg.goto(url)
        ask(pg, "Đề án 06 là gì?")
        bubble = bot_messages(pg).first
        sync_api.expect(bubble).to_contain_text(LLM_FALLBACK_NOTICE)
        text = bubble.inner_text()
        assert "Bản nháp" not in text
        assert "Đề án 06 về dữ liệu dân cư <b>quốc gia</b>. [1]" in text  # shown literally
        assert bubble.locator("em", has_text=LLM_FALLBACK_NOTICE).count() == 1  # italic
        assert bubble.locator("b").count() == 0
        mark = pg.locator("#hoidap-sources mark.hoidap-quote")
        sync_api.expect(mark).to_have_text("Đề án 06 về dữ liệu dân cư <b>quốc gia</b>.")
    finally:
        context.close()
        demo.close()


def test_markers_scroll_to_their_card_and_earlier_sources_stay(page) -> None:
    """A marker [n] is a link to its card; cards of earlier answers stay in the panel."""
    ask(page, QUESTION)
    wait_answer(page)
    first_link = bot_messages(page).first.locator('a[href^="#hoidap-src-"]').first
    sync_api.expect(first_link).to_have_text("[1]")
    target = first_link.get_attribute("href")
    ask(page, "Đề án 06 là gì?")
    wait_answer(page, 2)
    sync_api.expect(page.locator("#hoidap-sources section.hoidap-sources-turn")).to_have_count(2)
    tabs = len(page.context.pages)
    first_link.click()
    card = page.locator(f"#hoidap-sources {target}")
    sync_api.expect(card).to_have_class(re.compile(r"\bhoidap-source-active\b"))
    sync_api.expect(card).to_be_in_viewport()
    assert len(page.context.pages) == tabs  # no new tab or window was opened
    assert page.locator(".hoidap-source-active").count() == 1


def test_phone_layout_puts_the_sources_right_under_the_answer(browser, ui) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN")
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    try:
        pg.goto(ui[0])
        pg.get_by_placeholder("Nhập câu hỏi").wait_for()
        ask(pg, QUESTION)
        wait_answer(pg)
        pg.locator("#hoidap-sources article.hoidap-source").first.wait_for()

        def box(selector: str) -> dict:
            return pg.locator(selector).first.bounding_box()

        chat, ask_row = box("#hoidap-chat"), box("#hoidap-ask-row")
        sources, examples = box("#hoidap-sources-col"), box("#hoidap-new")
        assert chat["y"] < ask_row["y"] < sources["y"] < examples["y"]
        # Only the question box sits between the answer and its sources.
        assert sources["y"] - (chat["y"] + chat["height"]) < 250
        assert sources["width"] > 300  # the panel uses the phone's width
        (ROOT / "docs").mkdir(exist_ok=True)
        pg.screenshot(path=str(ROOT / "docs" / "ui-phone.png"), full_page=True)
    finally:
        context.close()


@pytest.mark.parametrize("question", list(EXPECTED_FACTS))
def test_every_example_chip_is_answered_with_a_citation(page, question: str) -> None:
    """A chip is the first thing a new user clicks: it must fill the box and be answered."""
    page.get_by_text(question, exact=True).first.click()
    sync_api.expect(page.get_by_placeholder("Nhập câu hỏi")).to_have_value(question)
    page.locator("#hoidap-send").click()
    text = wait_answer(page)
    assert EXPECTED_FACTS[question] in text and "[1]" in text and "Nguồn:" in text
    card = page.locator("#hoidap-sources article.hoidap-source").first
    sync_api.expect(card).to_contain_text(EXPECTED_FACTS[question])
