"""Articles from every kind of source answer questions, cited with their real title, date
and (for web articles) the original's address: a PDF, a Word report, and two articles
behind an RSS feed on a loopback server, indexed together with the real embedder."""

from __future__ import annotations

import shutil
from pathlib import Path

import docx
import pytest

from index.config import Settings
from index.pipeline import run_index
from tests.support.site_server import Page, Site

DATA = Path(__file__).resolve().parent / "data"
LAO_CAI = "https://laocai.example.gov.vn/tin-tuc/tinh-lao-cai-dua-100-thu-tuc-len-dich-vu-cong-truc-tuyen-1234.html"
THANH_TOAN = (
    "https://kinhteso.example.vn/thanh-toan-khong-dung-tien-mat-tang-manh-o-nong-thon-4711.html"
)


def _word_report(path: Path) -> None:
    document = docx.Document()
    document.add_heading("Báo cáo kết quả chuyển đổi số năm 2026 của huyện Mường Khương", level=1)
    document.add_paragraph("Mường Khương, ngày 02 tháng 12 năm 2026")
    document.add_paragraph(
        "Năm 2026, huyện Mường Khương đã cấp 4.200 chữ ký số cá nhân cho người dân, vượt 40% "
        "kế hoạch năm."
    )
    document.add_paragraph(
        "Toàn bộ 16 xã, thị trấn của huyện đã có điểm truy cập Internet công cộng miễn phí."
    )
    document.save(path)


@pytest.fixture(scope="module")
def mixed_assistant(tmp_path_factory):
    from assistant.answering.assistant import Assistant

    folder = tmp_path_factory.mktemp("bai-viet")
    shutil.copy(DATA / "formats" / "thong-cao-bac-ninh.pdf", folder)
    _word_report(folder / "bao-cao-muong-khuong.docx")
    home = tmp_path_factory.mktemp("home")
    settings = Settings.load(env={"HOIDAP_HOME": str(home), "HOIDAP_WEB_DELAY": "0"})
    with Site() as site:
        site.pages["/robots.txt"] = Page(b"User-agent: *\nAllow: /\n", content_type="text/plain")
        for path, name in [
            ("/a.html", "cong-tinh-dich-vu-cong.html"),
            ("/b.html", "bao-dien-tu-thanh-toan.html"),
        ]:
            site.pages[path] = Page((DATA / "portal" / name).read_bytes())
        items = "".join(f"<item><link>{site.url}{p}</link></item>" for p in ("/a.html", "/b.html"))
        site.pages["/rss.xml"] = Page(
            f'<?xml version="1.0"?><rss version="2.0"><channel>{items}</channel></rss>'.encode(),
            content_type="application/rss+xml",
        )
        summary = run_index([folder, f"{site.url}/rss.xml"], settings)
    assert summary.errors == [] and summary.articles_new == 4, summary
    assistant = Assistant(settings)
    assistant.warm_up()
    return assistant


CASES = [
    (
        "Nền tảng tra cứu quy hoạch của Bắc Ninh cho tra cứu thông tin của bao nhiêu thửa đất?",
        "1.236.000",
        "Thông cáo báo chí: Ra mắt nền tảng tra cứu quy hoạch đất đai trực tuyến",
        "2026-12-04",
        None,
    ),
    (
        "Năm 2026 huyện Mường Khương đã cấp bao nhiêu chữ ký số cá nhân?",
        "4.200",
        "Báo cáo kết quả chuyển đổi số năm 2026 của huyện Mường Khương",
        "2026-12-02",
        None,
    ),
    (
        "Tỷ lệ hồ sơ nộp trực tuyến của Lào Cai trong 11 tháng năm 2026 đạt bao nhiêu?",
        "78,4%",
        "Tỉnh Lào Cai đưa 100% thủ tục hành chính lên dịch vụ công trực tuyến",
        "2026-11-28",
        LAO_CAI,
    ),
    (
        "Các ngân hàng đã mở bao nhiêu tài khoản cho người dân nông thôn trong năm?",
        "12,6 triệu",
        "Thanh toán không dùng tiền mặt tăng mạnh ở nông thôn",
        "2026-12-02",
        THANH_TOAN,
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("question", "fact", "title", "date", "url"), CASES)
def test_each_article_answers_cited_with_its_title_date_and_link(
    mixed_assistant, question, fact, title, date, url
) -> None:
    answer = mixed_assistant.ask(question)
    assert not answer.refused, answer.answer
    assert fact in answer.answer
    cited = answer.citations[0]
    assert (cited.title, cited.date, cited.url) == (title, date, url)
    public = answer.to_json()["citations"][0]
    assert (public["title"], public["date"], public["url"]) == (title, date, url)


@pytest.mark.slow
def test_the_http_api_gives_the_web_article_its_link(mixed_assistant) -> None:
    from support.access import logged_in

    from assistant.web.api.config import ApiConfig
    from assistant.web.server import create_app

    app = create_app(
        mixed_assistant.settings,
        mixed_assistant,
        api_config=ApiConfig(ip_rate="1000/min"),
        mount_ui=False,
    )
    question, fact, title, date, url = CASES[2]
    client = logged_in(app)
    body = client.post("/v1/ask", json={"question": question}).json()
    assert fact in body["answer"]
    cited = body["citations"][0]
    assert (cited["title"], cited["date"], cited["url"]) == (title, date, url)
    # The OpenAI-compatible route writes its sources as text: title, dd/mm/yyyy, address.
    chat = {"model": "hoidap", "messages": [{"role": "user", "content": question}]}
    content = client.post("/v1/chat/completions", json=chat).json()["choices"][0]["message"]
    assert f"\n\nNguồn:\n[1] {title} (28/11/2026) {url}" in content["content"]
