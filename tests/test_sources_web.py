"""Web sources against a real HTTP server on loopback: a feed, a sitemap, robots.txt,
304 Not Modified on a re-run, a 404, a redirect loop, a broken feed, an unreachable host."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from index.config import Settings
from index.pipeline import run_index
from index.sources.web import USER_AGENT
from index.store import ChunkStore
from tests.support.site_server import Page, Site

ROOT = Path(__file__).resolve().parents[1]
PORTAL = Path(__file__).resolve().parent / "data" / "portal"
FORMATS = Path(__file__).resolve().parent / "data" / "formats"
LAO_CAI = "https://laocai.example.gov.vn/tin-tuc/tinh-lao-cai-dua-100-thu-tuc-len-dich-vu-cong-truc-tuyen-1234.html"
THANH_TOAN = (
    "https://kinhteso.example.vn/thanh-toan-khong-dung-tien-mat-tang-manh-o-nong-thon-4711.html"
)


def _page(name: str, etag: str | None = None) -> Page:
    return Page((PORTAL / name).read_bytes(), etag=etag)


def _rss(base: str, paths: list[str]) -> Page:
    items = "".join(
        f"<item><title>Tin {i}</title><link>{base}{p}</link>"
        f"<pubDate>Thu, 03 Dec 2026 06:00:00 +0700</pubDate></item>"
        for i, p in enumerate(paths)
    )
    xml = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Tin mới</title><link>{base}/</link>{items}</channel></rss>"
    )
    return Page(xml.encode(), content_type="application/rss+xml; charset=utf-8")


def _site_with_feed(site: Site) -> None:
    site.pages["/robots.txt"] = Page(
        b"User-agent: *\nDisallow: /noi-bo/\n", content_type="text/plain"
    )
    site.pages["/tin/lao-cai.html"] = _page("cong-tinh-dich-vu-cong.html", etag='"lc-1"')
    site.pages["/tin/thanh-toan.html"] = _page("bao-dien-tu-thanh-toan.html", etag='"tt-1"')
    site.pages["/tin/hoc-ba.html"] = _page("so-giao-duc-hoc-ba.html")  # no validators
    site.pages["/noi-bo/bao-cao.html"] = _page("cong-tinh-dich-vu-cong.html")
    paths = ["/tin/lao-cai.html", "/tin/thanh-toan.html", "/tin/hoc-ba.html"]
    site.pages["/rss.xml"] = _rss(site.url, paths + ["/noi-bo/bao-cao.html", "/tin/da-go.html"])


@pytest.fixture
def web_settings(tmp_path) -> Settings:
    return Settings.load(
        env={
            "HOIDAP_HOME": str(tmp_path / "home"),
            "HOIDAP_EMBEDDER": "fake",
            "HOIDAP_WEB_DELAY": "0",
        }
    )


def _sources(settings: Settings) -> dict[str, tuple[str, str | None]]:
    chunks = ChunkStore(settings, "fake:hashing-256").all_chunks()
    return {c.source: (c.title, c.date) for c in chunks}


def test_a_feed_indexes_its_articles_under_their_canonical_address(web_settings) -> None:
    with Site() as site:
        _site_with_feed(site)
        summary = run_index([f"{site.url}/rss.xml"], web_settings)
    sources = _sources(web_settings)
    assert sources[LAO_CAI] == (
        "Tỉnh Lào Cai đưa 100% thủ tục hành chính lên dịch vụ công trực tuyến",
        "2026-11-28",
    )
    assert sources[THANH_TOAN] == (
        "Thanh toán không dùng tiền mặt tăng mạnh ở nông thôn",
        "2026-12-02",
    )
    # No canonical link: the page's own address; the date its text states.
    assert sources[f"{site.url}/tin/hoc-ba.html"] == (
        "Học bạ số được cấp cho 100% học sinh lớp 1",
        "2026-12-03",
    )
    assert len(sources) == 3 and summary.articles_new == 3 and summary.pages == 3
    robots = next(e for e in summary.errors if "/noi-bo/bao-cao.html" in e)
    assert "robots.txt" in robots and "không cho phép" in robots
    gone = next(e for e in summary.errors if "/tin/da-go.html" in e)
    assert "HTTP 404" in gone and "lỗi HTTP 404" in gone
    assert len(summary.errors) == 2
    assert site.statuses("/noi-bo/bao-cao.html") == []  # never asked for
    assert site.statuses("/robots.txt") == [200]  # once per run and host
    assert {r.headers["user-agent"] for r in site.requests} == {USER_AGENT}
    assert "hoidap" in USER_AGENT


def test_a_rerun_asks_conditionally_and_prune_removes_what_left_the_feed(web_settings) -> None:
    with Site() as site:
        _site_with_feed(site)
        first = run_index([f"{site.url}/rss.xml"], web_settings)
        second = run_index([f"{site.url}/rss.xml"], web_settings)
        # The pages with an ETag answer 304; the page without one is fetched and hashed.
        assert site.statuses("/tin/lao-cai.html") == [200, 304]
        assert site.statuses("/tin/thanh-toan.html") == [200, 304]
        assert site.statuses("/tin/hoc-ba.html") == [200, 200]
        assert second.new == 0 and second.articles_unchanged == 3 and second.articles_new == 0
        assert second.chunks == first.chunks
        # An article leaves the feed, another changes: --prune removes the first only.
        site.pages["/rss.xml"] = _rss(site.url, ["/tin/lao-cai.html", "/tin/hoc-ba.html"])
        changed = (
            (PORTAL / "so-giao-duc-hoc-ba.html")
            .read_text(encoding="utf-8")
            .replace("52.300 học sinh", "52.450 học sinh")
        )
        site.pages["/tin/hoc-ba.html"] = Page(changed.encode())
        third = run_index([f"{site.url}/rss.xml"], web_settings, prune=True)
    assert (third.articles_changed, third.articles_unchanged, third.articles_removed) == (1, 1, 1)
    assert THANH_TOAN not in _sources(web_settings) and LAO_CAI in _sources(web_settings)


def test_a_sitemap_and_a_sitemap_index(web_settings) -> None:
    with Site() as site:
        site.pages["/robots.txt"] = Page(b"", status=404)  # no robots.txt: everything allowed
        site.pages["/a.html"] = _page("cong-tinh-dich-vu-cong.html")
        site.pages["/b.html"] = _page("bao-dien-tu-thanh-toan.html")
        site.pages["/a.html?utm_source=rss"] = _page("cong-tinh-dich-vu-cong.html")  # same article
        ns = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
        urls = [f"{site.url}/a.html", f"{site.url}/b.html", f"{site.url}/a.html?utm_source=rss"]
        locs = "".join(f"<url><loc>{u.replace('&', '&amp;')}</loc></url>" for u in urls)
        site.pages["/sitemap-tin.xml"] = Page(
            f'<?xml version="1.0"?><urlset {ns}>{locs}</urlset>'.encode(),
            content_type="application/xml",
        )
        site.pages["/sitemap.xml"] = Page(
            f'<?xml version="1.0"?><sitemapindex {ns}><sitemap><loc>{site.url}/sitemap-tin.xml</loc>'
            "</sitemap></sitemapindex>".encode(),
            content_type="application/xml",
        )
        summary = run_index([f"{site.url}/sitemap.xml"], web_settings)
    # Two addresses of one article (its canonical address says so) make one article.
    assert summary.errors == [] and summary.articles_new == 2 and summary.pages == 2
    assert set(_sources(web_settings)) == {LAO_CAI, THANH_TOAN}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bad_web_inputs_are_skipped_by_name_and_nothing_indexed_is_lost(web_settings) -> None:
    with Site() as site:
        _site_with_feed(site)
        first = run_index([f"{site.url}/rss.xml"], web_settings)
        site.pages["/vong-1"] = Page(status=302, headers={"Location": "/vong-2"})
        site.pages["/vong-2"] = Page(status=302, headers={"Location": "/vong-1"})
        site.pages["/rss.xml"] = Page(
            b"<html><body>Trang bao tri</body></html>", content_type="text/xml"
        )
        site.pages["/danh-sach.html"] = _page("trang-danh-sach.html")
        site.pages["/dang-nhap.html"] = _page("dang-nhap.html")
        unreachable = f"http://127.0.0.1:{_closed_port()}/rss.xml"
        addresses = [f"{site.url}/vong-1", f"{site.url}/rss.xml", unreachable]
        addresses += [f"{site.url}/danh-sach.html", f"{site.url}/dang-nhap.html"]
        summary = run_index(addresses, web_settings, prune=True)
    reasons = {
        "/vong-1": "redirect loop",
        "/rss.xml": "not a readable RSS/Atom feed or sitemap",
        unreachable: "cannot reach the address",
        "/danh-sach.html": "not an article",
        "/dang-nhap.html": "asks for a login",
    }
    for address, why in reasons.items():
        line = next(e for e in summary.errors if address in e)
        assert why in line and "\n" not in line
    assert any("--prune" in e and "nothing was removed" in e for e in summary.errors)
    assert summary.chunks == first.chunks and summary.removed == 0  # nothing lost


def test_requests_to_one_host_are_spaced_by_the_delay(tmp_path) -> None:
    settings = Settings.load(
        env={
            "HOIDAP_HOME": str(tmp_path / "h"),
            "HOIDAP_EMBEDDER": "fake",
            "HOIDAP_WEB_DELAY": "0.3",
        }
    )
    with Site() as site:
        _site_with_feed(site)
        run_index([f"{site.url}/rss.xml"], settings)
    times = [r.at for r in site.requests]
    assert len(times) >= 5
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    # Without the delay the requests come milliseconds apart; the margin is the server's
    # own scheduling between the client's send and the handler's clock.
    assert min(gaps) >= 0.1 and sum(gaps) >= 0.3 * len(gaps) - 0.1


def test_the_cli_takes_a_feed_address_and_says_what_it_skipped(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOIDAP_")}
    env.update(HOIDAP_HOME=str(tmp_path / "home"), HOIDAP_EMBEDDER="fake", HOIDAP_WEB_DELAY="0")
    with Site() as site:
        _site_with_feed(site)
        run = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "hoidap"), "index", f"{site.url}/rss.xml"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        again = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "hoidap"), "index", f"{site.url}/rss.xml", "--json"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
    assert run.returncode == 3, run.stderr  # indexed, but two pages were skipped
    assert "Traceback" not in run.stderr
    assert run.stdout.startswith("Lần này đã đọc 0 tệp, 3 trang web: bài mới 3, đã đổi 0")
    assert "; bỏ qua 2." in run.stdout
    skipped = [ln for ln in run.stderr.splitlines() if ln.startswith("bỏ qua / skipped: ")]
    assert len(skipped) == 2 and any("/tin/da-go.html" in ln for ln in skipped)
    summary = json.loads(again.stdout)
    assert (summary["pages"], summary["articles_unchanged"], summary["new"]) == (3, 3, 0)


def test_last_modified_alone_gets_a_304_on_the_rerun(web_settings) -> None:
    with Site() as site:
        site.pages["/robots.txt"] = Page(b"", status=404)
        site.pages["/bai.html"] = Page(
            (PORTAL / "so-giao-duc-hoc-ba.html").read_bytes(),
            last_modified="Thu, 03 Dec 2026 08:20:00 GMT",
        )
        run_index([f"{site.url}/bai.html"], web_settings)
        again = run_index([f"{site.url}/bai.html"], web_settings)
        assert site.statuses("/bai.html") == [200, 304]
        assert site.requests[-1].headers["if-modified-since"] == "Thu, 03 Dec 2026 08:20:00 GMT"
    assert (again.articles_unchanged, again.new, again.pages) == (1, 0, 1)


def test_size_page_and_time_caps(tmp_path) -> None:
    env = {"HOIDAP_HOME": str(tmp_path / "h"), "HOIDAP_EMBEDDER": "fake", "HOIDAP_WEB_DELAY": "0"}
    with Site() as site:
        _site_with_feed(site)
        capped = run_index(
            [f"{site.url}/rss.xml"], Settings.load(env={**env, "HOIDAP_WEB_MAX_PAGES": "1"})
        )
        assert capped.pages == 1 and capped.articles_new == 1
        assert sum("page cap of 1" in e for e in capped.errors) == 4  # the other listed pages
        site.pages["/cham.html"] = Page((PORTAL / "so-giao-duc-hoc-ba.html").read_bytes(), delay=2)
        slow = run_index(
            [f"{site.url}/cham.html"], Settings.load(env={**env, "HOIDAP_WEB_TIMEOUT": "0.5"})
        )
        big = run_index(
            [f"{site.url}/tin/thanh-toan.html"],
            Settings.load(env={**env, "HOIDAP_MAX_FILE_MB": "0.002"}),
        )
    assert slow.errors and "no answer within 0.5 s" in slow.errors[0], slow
    assert big.errors and "over 0.002 MB" in big.errors[0], big


def test_a_pdf_and_a_word_file_on_the_web_are_read_by_their_readers(web_settings, tmp_path) -> None:
    import docx

    report = docx.Document()
    report.add_heading("Báo cáo tổng kết năm 2026 của Trung tâm Phục vụ hành chính công", level=1)
    report.add_paragraph(
        "Năm 2026, Trung tâm tiếp nhận 128.400 hồ sơ, trong đó 91% được giải quyết trước hạn "
        "và không có hồ sơ nào bị trả lại quá hai lần."
    )
    report.save(tmp_path / "bao-cao.docx")
    docx_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    with Site() as site:
        site.pages["/robots.txt"] = Page(b"", status=404)
        site.pages["/tai-lieu/thong-cao"] = Page(
            (FORMATS / "thong-cao-bac-ninh.pdf").read_bytes(), content_type="application/pdf"
        )
        site.pages["/tai-lieu/bao-cao"] = Page(
            (tmp_path / "bao-cao.docx").read_bytes(), content_type=docx_type
        )
        addresses = [f"{site.url}/tai-lieu/thong-cao", f"{site.url}/tai-lieu/bao-cao"]
        summary = run_index(addresses, web_settings)
    assert summary.errors == [] and summary.articles_new == 2
    sources = _sources(web_settings)
    assert sources[addresses[0]] == (
        "Thông cáo báo chí: Ra mắt nền tảng tra cứu quy hoạch đất đai trực tuyến",
        "2026-12-04",
    )
    assert sources[addresses[1]][0] == (
        "Báo cáo tổng kết năm 2026 của Trung tâm Phục vụ hành chính công"
    )


def test_prune_on_a_feed_removes_only_what_that_feed_listed(web_settings) -> None:
    seeds = Path(__file__).resolve().parents[1] / "seeds"
    with Site() as site:
        _site_with_feed(site)
        site.pages["/khac.xml"] = _rss(site.url, ["/tin/hoc-ba.html"])  # another feed
        run_index([seeds, f"{site.url}/rss.xml"], web_settings)
        site.pages["/rss.xml"] = _rss(site.url, ["/tin/lao-cai.html"])  # two articles left it
        pruned = run_index([f"{site.url}/rss.xml"], web_settings, prune=True)
        assert pruned.articles_removed == 2
        sources = _sources(web_settings)
        assert THANH_TOAN not in sources and f"{site.url}/tin/hoc-ba.html" not in sources
        assert LAO_CAI in sources and len([s for s in sources if s.endswith(".txt")]) == 5
        # A folder's --prune keeps the web articles, and another feed keeps its own.
        run_index([f"{site.url}/khac.xml"], web_settings)
        folder = run_index([seeds], web_settings, prune=True)
        other = run_index([f"{site.url}/rss.xml"], web_settings, prune=True)
    assert folder.articles_removed == 0 and other.articles_removed == 0
    assert {LAO_CAI, f"{site.url}/tin/hoc-ba.html"} <= set(_sources(web_settings))
