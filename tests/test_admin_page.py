"""The editors' gaps page (/admin) end to end: a real uvicorn on loopback, a real SQLite
feedback store and request log, real admin keys, and a real headless Chromium."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright import sync_api
from support.access import log_in

from assistant.answering.assistant import Assistant
from assistant.web.api.admin_page import ADMIN_CSP
from assistant.web.api.config import ApiConfig
from assistant.web.api.keys import KeyStore
from assistant.web.api.thread_server import ServerThread
from assistant.web.gaps import report, to_cases
from assistant.web.request_log import RequestLog
from assistant.web.server import create_app
from evals.datasets import load_dataset
from index.config import Settings

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("HOIDAP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 30_000
VIETNAM = timedelta(hours=7)  # the browser runs in Asia/Ho_Chi_Minh (no daylight saving)
HTML_QUESTION = "Lịch nghỉ <b>Tết</b> 2025 của công chức thế nào?"
WRONG_KEY = "hdsk_0123456789_" + "x" * 43


@dataclasses.dataclass
class Refusal:
    """What the request log reads from an answer the assistant refused."""

    refused: bool = True
    mode: str = "extractive"
    citations: tuple = ()
    latency_ms: float = 9.0


def _seed(srv: ServerThread) -> None:
    """Thumbs-down votes through the real /v1/feedback route (with the login link's session)
    and refusals in the server's real request log."""
    votes = [
        ("Tỉnh nào dẫn đầu chỉ số chuyển đổi số năm 2023?", -1),
        ("tinh nao dan dau chi so chuyen doi so nam 2023", -1),
        (HTML_QUESTION, -1),
        ("Đề án 06 là gì?", 1),  # a thumbs-up is no gap
    ]
    with httpx.Client(base_url=srv.url, timeout=30) as operator:
        log_in(operator, srv.app)
        for question, rating in votes:
            r = operator.post(
                "/v1/feedback", json={"question": question, "answer": "…", "rating": rating}
            )
            assert r.status_code == 200, r.text
    log = RequestLog.for_settings(srv.settings)
    log.log_questions = True
    log.answer("Tỉnh nào đứng đầu chỉ số chuyển đổi số năm 2023?", Refusal())
    log.answer("Giá xăng hôm nay bao nhiêu?", Refusal())
    log.answer("Giá xăng hôm nay là bao nhiêu tiền?", Refusal())
    log.answer("Ai ký Quyết định 749?", Refusal(refused=False))  # answered: no gap


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServerThread]:
    settings = Settings.load(env={"HOIDAP_HOME": str(tmp_path / "home"), "HOIDAP_EMBEDDER": "fake"})
    app = create_app(settings, Assistant(settings), mount_ui=False, api_config=ApiConfig())
    with ServerThread(app) as srv:
        srv.settings = settings
        yield srv


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _page(browser: sync_api.Browser) -> sync_api.Page:
    context = browser.new_context(
        viewport={"width": 1100, "height": 820}, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh"
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


def _shown(iso: str) -> str:
    """How the page writes an ISO (UTC) time: dd/mm/yyyy hh:mm in Vietnam."""
    return (datetime.fromisoformat(iso) + VIETNAM).strftime("%d/%m/%Y %H:%M")


def _expect_report(page: sync_api.Page, settings: Settings) -> None:
    """The table shows the same groups as ``hoidap report gaps``, in its order."""
    groups = [g.to_json() for g in report(settings)]
    assert [g["count"] for g in groups] == [3, 2, 1]
    rows = page.locator("#rows tr")
    sync_api.expect(rows).to_have_count(3)
    for i, group in enumerate(groups):
        row = rows.nth(i)
        sync_api.expect(row.locator(".question")).to_have_text(group["question"])
        sync_api.expect(row.locator(".count")).to_have_text(str(group["count"]))
        assert row.locator(".first").inner_text() == _shown(group["first"])
        assert row.locator(".last").inner_text() == _shown(group["last"])
        others = [w for w in group["wordings"] if w != group["question"]]
        if others:
            assert row.locator(".wordings li").all_inner_texts() == others
        else:
            assert row.locator(".wordings").inner_text() == "—"
    first = rows.nth(0).locator(".reasons")
    sync_api.expect(first).to_contain_text("không hài lòng: 2")
    sync_api.expect(first).to_contain_text("từ chối: 1")
    sync_api.expect(rows.nth(1).locator(".reasons")).to_have_text("từ chối: 2")
    # Question text is text, never markup.
    sync_api.expect(rows.nth(2).locator(".question")).to_have_text(HTML_QUESTION)
    assert page.locator("#rows b").count() == 0
    sync_api.expect(page.locator("#status")).to_have_text(
        "3 nhóm câu hỏi chưa được trả lời, tổng 6 lượt (nhiều nhất trước)."
    )


def test_the_page_and_its_script_are_static_and_locked_down(served) -> None:
    page = httpx.get(f"{served.url}/admin", timeout=30)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == ADMIN_CSP
    for part in (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ):
        assert part in ADMIN_CSP
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "set-cookie" not in page.headers
    assert "Tải báo cáo" in page.text and '<script src="/admin.js">' in page.text
    assert "<script>" not in page.text  # no inline script: the CSP would block it anyway

    script = httpx.get(f"{served.url}/admin.js", timeout=30)
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["x-content-type-options"] == "nosniff"
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script.text, sink
    assert "document.cookie" not in script.text and "localStorage" not in script.text

    # The page holds no data, so anyone gets it (the UI at / needs a session); the report
    # itself still needs the key or the login link's session.
    remote = TestClient(served.app, base_url="http://localhost", client=("203.0.113.7", 50000))
    assert remote.get("/admin").status_code == 200
    assert remote.get("/admin.js").status_code == 200
    assert remote.get("/").status_code == 401
    assert remote.get("/v1/admin/gaps").status_code == 401


def test_the_report_exports_as_jsonl_eval_cases(served, tmp_path: Path) -> None:
    _seed(served)
    _, secret = KeyStore.for_home(served.settings.home).create_admin_key(name="editor")
    url = f"{served.url}/v1/admin/gaps"
    auth = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(url, params={"format": "jsonl"}, timeout=30).status_code == 401
    r = httpx.get(url, params={"format": "jsonl"}, headers=auth, timeout=30)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/x-ndjson"
    assert r.headers["cache-control"] == "no-store"
    lines = r.text.splitlines()
    assert r.text.endswith("\n") and len(lines) == 3
    assert [json.loads(line) for line in lines] == to_cases(report(served.settings))
    saved = tmp_path / "gaps.jsonl"
    saved.write_text(r.text, encoding="utf-8")
    dataset = load_dataset(saved)  # what `hoidap eval --dataset` reads
    assert [item.question for item in dataset.items][2] == HTML_QUESTION

    assert httpx.get(url, headers=auth, timeout=30).json()["groups"][0]["count"] == 3
    bad = httpx.get(url, params={"format": "xml"}, headers=auth, timeout=30)
    assert bad.status_code == 422 and bad.json()["error"]["message"].startswith(
        "Yêu cầu không hợp lệ"
    )


def test_after_the_login_link_no_key_is_needed(browser, served) -> None:
    page = _page(browser)
    page.goto(f"{served.url}/admin")
    page.get_by_role("button", name="Tải báo cáo").click()  # no key, no session: refused
    sync_api.expect(page.locator("#status")).to_contain_text("Cần khóa API quản trị")
    token = served.app.state.hoidap.login_link.issue()
    page.goto(f"{served.url}/login?token={token}")
    page.wait_for_url(f"{served.url}/")  # the link leads on to the chat UI
    page.goto(f"{served.url}/admin")
    status = page.locator("#status")
    page.get_by_role("button", name="Tải báo cáo").click()
    sync_api.expect(status).to_contain_text("Chưa có câu hỏi nào bị từ chối")
    assert page.locator("#report").is_hidden()

    _seed(served)
    page.get_by_role("button", name="Tải báo cáo").click()
    _expect_report(page, served.settings)

    served.stop()  # the server goes away: the page says so instead of failing silently
    page.get_by_role("button", name="Tải báo cáo").click()
    sync_api.expect(status).to_have_text(
        "Không kết nối được với máy chủ. Hãy kiểm tra mạng hoặc máy chủ hoidap rồi thử lại."
    )
    page.context.close()


def test_with_an_admin_key_the_page_shows_and_exports_the_report(browser, served, tmp_path) -> None:
    _seed(served)
    keys = KeyStore.for_home(served.settings.home)
    _, secret = keys.create_admin_key(name="editor")
    widget = keys.create_widget_key(["https://portal.example"], rate="30/min")
    page = _page(browser)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(f"{served.url}/admin")
    status = page.locator("#status")
    load = page.get_by_role("button", name="Tải báo cáo")
    key = page.get_by_label("Khóa API quản trị")

    load.click()  # no key typed and no session: refused
    sync_api.expect(status).to_contain_text("Cần khóa API quản trị: hãy nhập khóa")
    key.fill(WRONG_KEY)
    key.press("Enter")
    sync_api.expect(status).to_contain_text("Khóa API không đúng hoặc đã bị thu hồi")
    assert page.locator("#report").is_hidden()
    assert page.evaluate("sessionStorage.getItem('hoidap-admin-key')") is None
    key.fill(widget.key)
    load.click()
    sync_api.expect(status).to_contain_text("khóa công khai của widget")
    key.fill("khóa sai")
    load.click()
    sync_api.expect(status).to_contain_text("Khóa API chỉ gồm chữ cái không dấu")

    key.fill(secret)
    load.click()
    _expect_report(page, served.settings)
    assert page.evaluate("sessionStorage.getItem('hoidap-admin-key')") == secret
    assert page.context.cookies() == [] and page.evaluate("document.cookie") == ""
    # The README's screenshot is refreshed on request only: a test run leaves the tree clean.
    shots = Path(os.environ.get("HOIDAP_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "admin-gaps.png"))
    assert (shots / "admin-gaps.png").stat().st_size > 10_000

    # The export is a Blob download (allowed by the CSP) of the same cases as --export.
    with page.expect_download() as info:
        page.get_by_role("button", name="Xuất ca kiểm thử (JSONL)").click()
    download = info.value
    assert download.suggested_filename.startswith("hoidap-gaps-")
    assert download.suggested_filename.endswith(".jsonl")
    text = Path(download.path()).read_text(encoding="utf-8")
    assert [json.loads(line) for line in text.splitlines()] == to_cases(report(served.settings))
    sync_api.expect(status).to_contain_text("Đã xuất 3 ca kiểm thử vào tệp hoidap-gaps-")

    assert not [m for m in console if "Content Security Policy" in m], console
    page.reload()  # the key survives a reload of the tab, and the report comes back
    _expect_report(page, served.settings)
    page.context.close()

    fresh = _page(browser)  # another tab (context) does not get the key
    fresh.goto(f"{served.url}/admin")
    assert fresh.get_by_label("Khóa API quản trị").input_value() == ""
    fresh.context.close()
