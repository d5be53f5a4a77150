"""The embeddable widget end to end in a real headless Chromium.

Three loopback origins: the hoidap app (A, uvicorn), a demo portal page (B, stdlib
http.server) whose key allows it, and the same page on a third origin (C) the key does
not allow. The portal's CSS is hostile on purpose, to show the Shadow DOM isolation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright import sync_api

from assistant.web.api.config import ApiConfig
from assistant.web.api.keys import KeyStore
from assistant.web.api.thread_server import ServerThread, free_port
from assistant.web.feedback import FeedbackStore
from assistant.web.server import create_app

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("HOIDAP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
QUESTION = "Thủ tướng giao Bộ Tài chính nhiệm vụ gì?"
TIMEOUT_MS = 30_000
BLUE = "rgb(11, 92, 173)"

PORTAL_PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Cổng thông tin demo</title>
<style>
  /* Hostile on purpose: none of this may reach the widget. */
  * {{ all: unset; }}
  div {{ display: none !important; }}
  button, textarea, details, summary {{ background: red !important; color: red !important; font-size: 40px !important; }}
  hoidap-widget {{ display: none !important; }}
  head, style, script, title {{ display: none !important; }}
  body {{ display: block; font-family: serif; padding: 24px; background: #fdf6e3; }}
  p, h1 {{ display: block; margin: 0 0 12px; }}
  h1 {{ font-size: 28px; font-weight: bold; }}
  #para {{ font-size: 17px; color: rgb(80, 20, 20); }}
</style></head>
<body>
<h1>Cổng thông tin điện tử (trang demo)</h1>
<p id="para">Tin tức chuyển đổi số. Bấm nút «Hỏi đáp» ở góc dưới để hỏi về các bài viết.</p>
<script src="{api}/widget.js" data-key="{key}" async></script>
</body></html>
"""

IFRAME_PAGE = """<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>iframe</title></head>
<body><iframe id="chat" src="{api}/embed?key={key}" style="width:420px;height:600px;border:0"></iframe></body></html>
"""


class Recorder:
    """ASGI wrapper noting (method, path, status, origin) of every response the app sent.

    It also paces the /v1/chat event stream (10 ms per event), as a model generating
    tokens would, so the test can watch the answer arrive piece by piece.
    """

    def __init__(self, app):
        self.app = app
        self.seen: list[tuple[str, str, int, str]] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = dict(scope["headers"]).get(b"origin", b"").decode()

        async def recording_send(message):
            if message["type"] == "http.response.start":
                self.seen.append((scope["method"], scope["path"], message["status"], origin))
            elif scope["path"] == "/v1/chat" and message.get("body"):
                await asyncio.sleep(0.01)
            await send(message)

        await self.app(scope, receive, recording_send)


class PageServer:
    """A static site on one loopback origin (the portal)."""

    def __init__(self, host: str, pages: dict[str, str]):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - stdlib naming
                body = pages.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer((host, free_port(host)), Handler)
        self.origin = f"http://{host}:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def stack(seed_settings, seed_assistant, tmp_path_factory) -> Iterator[dict]:
    home = tmp_path_factory.mktemp("widget-home")
    store = KeyStore.for_home(home)
    api_port = free_port()
    api = f"http://127.0.0.1:{api_port}"
    pages: dict[str, str] = {}
    allowed = PageServer("127.0.0.1", pages)
    other = PageServer("127.0.0.2", pages)
    key = store.create_widget_key([allowed.origin], rate="600/min", name="demo portal").key
    pages["/"] = PORTAL_PAGE.format(api=api, key=key)
    pages["/iframe.html"] = IFRAME_PAGE.format(api=api, key=key)
    app = Recorder(
        create_app(
            dataclasses.replace(seed_settings, home=home),
            seed_assistant,
            api_config=ApiConfig(ip_rate="600/min"),
            mount_ui=False,
        )
    )
    with ServerThread(app, port=api_port):
        yield {
            "home": str(home),
            "api": api,
            "key": key,
            "allowed": allowed.origin,
            "other": other.origin,
            "recorder": app,
        }
    allowed.close()
    other.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _page(browser, width=1100, height=820) -> sync_api.Page:
    context = browser.new_context(viewport={"width": width, "height": height}, locale="vi-VN")
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


def test_widget_answers_with_citations_on_an_allowed_portal(browser, stack):
    page = _page(browser)
    page.goto(stack["allowed"] + "/")
    launcher = page.locator(".hd-launcher")
    launcher.wait_for(state="visible")
    # Hostile page CSS reached neither the host element nor the shadow tree...
    assert launcher.evaluate("e => getComputedStyle(e).backgroundColor") == BLUE
    assert launcher.evaluate("e => getComputedStyle(e).fontSize") == "15px"
    # ...and the widget did not restyle the page.
    assert page.locator("#para").evaluate("e => getComputedStyle(e).fontSize") == "17px"
    assert page.locator("#para").evaluate("e => getComputedStyle(e).color") == "rgb(80, 20, 20)"

    launcher.click()
    page.locator(".hd-info").filter(has_text="Xin chào").wait_for()
    # Count text updates of the answer bubble: an extractive answer arrives whole.
    page.evaluate(
        """() => {
        const root = document.querySelector('hoidap-widget').shadowRoot;
        window.__updates = 0;
        new MutationObserver(() => { window.__updates += 1; })
          .observe(root.querySelector('.hd-log'), {subtree: true, characterData: true, childList: true});
    }"""
    )
    page.locator(".hd-input").fill(QUESTION)
    page.locator(".hd-input").press("Enter")
    page.locator(".hd-user").filter(has_text=QUESTION).wait_for()
    cites = page.locator(".hd-bot details")
    cites.first.wait_for()
    assert (
        page.evaluate("window.__updates") < 10
    )  # one paint of the text, not a word-by-word replay

    answer = page.locator(".hd-bot .hd-text").last.inner_text()
    assert "[1]" in answer and len(answer) > 40
    assert page.locator(".hd-bot .hd-marker").count() >= 1
    summary = cites.first.locator("summary").inner_text()
    assert summary.startswith("[1] ") and "/20" in summary  # title and dd/mm/yyyy date

    passage = cites.first.locator(".hd-passage")
    assert not passage.is_visible()
    cites.first.locator("summary").click()
    passage.wait_for(state="visible")
    assert len(passage.inner_text()) > 100
    assert passage.locator("mark").count() == 1  # the supporting sentence is highlighted
    # A seed file has no original to link to, and its internal name is never shown.
    assert cites.first.locator(".hd-cite-meta").count() == 0
    assert ".txt" not in cites.first.inner_text()
    assert passage.evaluate("e => [...e.children].every(c => c.tagName === 'MARK')")

    # Frame the shot: the answer with its [1] marker at the top, the opened source below.
    page.locator(".hd-bot").last.evaluate("e => e.scrollIntoView({block: 'start'})")
    (ROOT / "docs").mkdir(exist_ok=True)
    page.screenshot(path=str(ROOT / "docs" / "widget.png"))
    page.context.close()

    seen = stack["recorder"].seen
    assert ("POST", "/v1/chat", 200, stack["allowed"]) in seen
    assert ("OPTIONS", "/v1/chat", 204, stack["allowed"]) in seen  # real CORS preflight


def test_widget_on_a_third_origin_is_refused(browser, stack):
    page = _page(browser)
    page.goto(stack["other"] + "/")
    page.locator(".hd-launcher").click()
    error = page.locator(".hd-error")
    error.wait_for()
    assert "chưa được phép" in error.inner_text() and "tên miền" in error.inner_text()
    assert page.locator(".hd-input").is_disabled()
    assert page.locator(".hd-send").is_disabled()
    page.context.close()
    refused = [s for s in stack["recorder"].seen if s[3] == stack["other"]]
    assert refused and all(status == 403 for _, _, status, _ in refused)
    assert any(path == "/v1/widget/config" for _, path, _, _ in refused)


def test_mobile_layout_fills_the_screen(browser, stack):
    page = _page(browser, width=390, height=780)
    before = len(stack["recorder"].seen)
    page.goto(stack["allowed"] + "/")
    page.locator(".hd-launcher").wait_for()
    page.wait_for_timeout(300)
    # A page view alone calls no API (it would spend the key's rate limit); opening does.
    assert not [s for s in stack["recorder"].seen[before:] if s[1].startswith("/v1/")]
    page.locator(".hd-launcher").click()
    panel = page.locator(".hd-panel")
    panel.wait_for(state="visible")
    box = panel.bounding_box()
    assert box["width"] == 390 and box["height"] == 780
    send = page.locator(".hd-send").bounding_box()
    assert send["height"] >= 44  # touch-sized
    page.locator(".hd-info").filter(has_text="Xin chào").wait_for()
    page.locator(".hd-input").fill(QUESTION)
    page.locator(".hd-input").press("Enter")
    page.locator(".hd-bot details").first.wait_for()
    page.locator(".hd-bot .hd-marker").first.click()  # opens its source, scrolled into view
    page.screenshot(path=str(ROOT / "docs" / "widget-phone.png"))
    page.keyboard.press("Escape")
    panel.wait_for(state="hidden")
    page.context.close()


def test_embed_iframe_works_only_inside_allowed_portals(browser, stack):
    page = _page(browser)
    page.goto(stack["allowed"] + "/iframe.html")
    frame = page.frame_locator("#chat")
    frame.locator(".hd-info").filter(has_text="Xin chào").wait_for()
    frame.locator(".hd-input").fill(QUESTION)
    frame.locator(".hd-send").click()
    frame.locator(".hd-bot details").first.wait_for()
    page.context.close()

    page = _page(browser)
    page.goto(stack["other"] + "/iframe.html")
    # The server saw the foreign framing page and sent a message instead of the chat.
    alert = page.frame_locator("#chat").locator("[role=alert]")
    alert.wait_for()
    assert f"{stack['other']} chưa được phép nhúng" in alert.inner_text()
    assert page.frame_locator("#chat").locator("hoidap-widget").count() == 0
    page.context.close()

    # Where the portal sends no referrer, the browser's frame-ancestors check still refuses.
    page = _page(browser)
    page.set_content(
        f'<iframe id="chat" referrerpolicy="no-referrer" src="{stack["api"]}/embed?key={stack["key"]}"></iframe>'
    )
    page.wait_for_timeout(1500)
    assert page.frame_locator("#chat").locator("hoidap-widget").count() == 0
    page.context.close()


def _open_widget(browser, stack) -> sync_api.Page:
    page = _page(browser)
    page.goto(stack["allowed"] + "/")
    page.locator(".hd-launcher").click()
    page.locator(".hd-info").filter(has_text="Xin chào").wait_for()
    return page


def test_widget_votes_are_stored_with_the_ui_votes(browser, stack):
    page = _open_widget(browser, stack)
    page.locator(".hd-input").fill(QUESTION)
    page.locator(".hd-input").press("Enter")
    rate = page.locator(".hd-bot .hd-rate").last
    rate.get_by_role("button", name="Chưa đúng").click()
    sync_api.expect(rate).to_have_text("Cảm ơn góp ý của bạn.")
    page.context.close()
    rows = FeedbackStore(Path(stack["home"]) / "feedback.sqlite3").rows()
    assert rows[-1]["question"] == QUESTION and rows[-1]["rating"] == -1
    assert rows[-1]["mode"] == "widget" and rows[-1]["citations"]
    assert ("POST", "/v1/feedback", 200, stack["allowed"]) in stack["recorder"].seen


def test_widget_new_conversation_and_over_limit_question(browser, stack):
    page = _open_widget(browser, stack)
    page.locator(".hd-input").fill(QUESTION)
    page.locator(".hd-input").press("Enter")
    page.locator(".hd-bot .hd-rate").last.wait_for()
    page.get_by_role("button", name="Cuộc trò chuyện mới").click()
    sync_api.expect(page.locator(".hd-user")).to_have_count(0)
    sync_api.expect(page.locator(".hd-bot")).to_have_count(0)
    sync_api.expect(page.locator(".hd-info")).to_contain_text("Xin chào")
    long_question = "Chuyển đổi số là gì? " * 110  # over the 2,000 characters allowed
    page.locator(".hd-input").fill(long_question)
    note = page.locator(".hd-limit")
    sync_api.expect(note).to_be_visible()
    sync_api.expect(note).to_contain_text(f"{len(long_question.strip())}/2000")
    assert page.locator(".hd-send").is_disabled()
    assert page.locator(".hd-input").input_value() == long_question  # nothing was cut
    page.locator(".hd-input").fill(QUESTION)
    sync_api.expect(note).to_be_hidden()
    assert page.locator(".hd-send").is_enabled()
    page.context.close()
