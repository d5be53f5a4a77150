"""File sources made by real tools: a press release printed to PDF by Chromium, Word files
written by python-docx, portal pages shaped like Vietnamese news sites; and bad input."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
from pathlib import Path

import docx
import pytest

from index.clean import clean_document
from index.config import Settings
from index.loader import FileError
from index.normalize import match_form
from index.sources import SUPPORTED, Document, read_document
from index.store import ChunkStore

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
FORMATS, PORTAL = DATA / "formats", DATA / "portal"
MAX = 20 * 1024 * 1024


def _read(path: Path) -> Document:
    doc = read_document(path, path.name, MAX)
    assert isinstance(doc, Document), doc
    return doc


def _report(
    path: Path, title: str = "Báo cáo kết quả chuyển đổi số năm 2026 của huyện Mường Khương"
):
    """A Word report as python-docx writes it (its own template's properties left as they are)."""
    document = docx.Document()
    document.add_heading(title, level=1)
    document.add_paragraph("Mường Khương, ngày 02 tháng 12 năm 2026")
    document.add_paragraph(
        "Năm 2026, huyện Mường Khương đã cấp 4.200 chữ ký số cá nhân cho người dân, vượt 40% "
        "kế hoạch năm. Toàn bộ 16 xã, thị trấn đã có điểm truy cập Internet công cộng miễn phí."
    )
    table = document.add_table(rows=2, cols=2)
    for (r, c), text in {
        (0, 0): "Chỉ tiêu",
        (0, 1): "Kết quả",
        (1, 0): "Hồ sơ trực tuyến",
        (1, 1): "81%",
    }.items():
        table.cell(r, c).text = text
    document.add_paragraph("Huyện đề xuất tỉnh hỗ trợ kinh phí lắp trạm phát sóng cho 5 thôn.")
    document.save(path)
    return document


# -- PDF -------------------------------------------------------------------------------------
def test_a_browser_printed_press_release_reads_as_paragraphs_with_title_and_date() -> None:
    doc = _read(FORMATS / "thong-cao-bac-ninh.pdf")
    article, _ = clean_document(doc)
    assert (
        article.title == "Thông cáo báo chí: Ra mắt nền tảng tra cứu quy hoạch đất đai trực tuyến"
    )
    assert article.date == "2026-12-04"  # the dateline, not the day it was printed
    lines = article.body.split("\n")
    assert "SỞ TÀI NGUYÊN VÀ MÔI TRƯỜNG" in lines  # stacked diacritics kept whole
    # A paragraph wrapped over four printed lines is one line again.
    assert any(
        ln.startswith("Ngày 04/12/2026, Sở Tài nguyên") and ln.endswith("trên toàn tỉnh.")
        for ln in lines
    )
    # Chromium's header and footer (print time, page title, file address, page counter).
    assert not any("file://" in ln or ln.endswith("1/1") or " AM " in ln for ln in lines)


def test_a_two_page_printout_drops_each_page_header_and_footer_and_rejoins_the_headline() -> None:
    article, _ = clean_document(_read(FORMATS / "thu-phi-hai-trang.pdf"))
    assert article.title == "Báo cáo nhanh: Kết quả thu phí không dừng quý III năm 2026"
    assert article.date == "2026-10-10"
    lines = article.body.split("\n")
    assert lines[0] == "Kết quả thu phí không dừng quý III năm 2026"  # wrapped over two lines
    assert lines[-1].startswith("Các chủ xe chưa dán thẻ định danh")  # page 2, nothing after it
    assert not any(ln.endswith(("1/2", "2/2")) or "PM Báo cáo nhanh" in ln for ln in lines)


@pytest.mark.parametrize(
    ("name", "english", "vietnamese"),
    [
        ("anh-quet.pdf", "needs OCR", "cần nhận dạng chữ (OCR)"),
        ("ma-hoa.pdf", "encrypted", "mật khẩu"),
    ],
)
def test_pdfs_that_cannot_be_read_say_why_naming_the_file(name, english, vietnamese) -> None:
    error = read_document(FORMATS / name, name, MAX)
    assert isinstance(error, FileError)
    assert english in str(error) and vietnamese in str(error) and str(FORMATS / name) in str(error)


def test_a_truncated_pdf_is_reported_not_raised(tmp_path: Path) -> None:
    broken = tmp_path / "hong.pdf"
    broken.write_bytes((FORMATS / "thong-cao-bac-ninh.pdf").read_bytes()[:4000])
    error = read_document(broken, "hong.pdf", MAX)
    assert isinstance(error, FileError) and "not a readable PDF" in str(error)


# -- Word -----------------------------------------------------------------------------------
def test_a_word_report_gives_heading_title_dateline_date_and_tables(tmp_path: Path) -> None:
    _report(tmp_path / "bao-cao.docx")
    article, _ = clean_document(_read(tmp_path / "bao-cao.docx"))
    assert article.title == "Báo cáo kết quả chuyển đổi số năm 2026 của huyện Mường Khương"
    assert article.date == "2026-12-02"
    assert article.author is None  # python-docx's template author is not the report's
    assert "Hồ sơ trực tuyến | 81%" in article.body.split("\n")


def test_word_properties_beat_the_text_when_the_document_states_them(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_paragraph("Tóm tắt tình hình triển khai chữ ký số tại các xã vùng cao của huyện.")
    document.core_properties.title = "Báo cáo chữ ký số vùng cao"
    document.core_properties.author = "Phòng Văn hóa và Thông tin"
    document.core_properties.created = datetime.datetime(2026, 11, 30, 8, 0)
    document.save(tmp_path / "tom-tat.docx")
    doc = _read(tmp_path / "tom-tat.docx")
    assert (doc.title, doc.date, doc.author) == (
        "Báo cáo chữ ký số vùng cao",
        "2026-11-30",
        "Phòng Văn hóa và Thông tin",
    )


def test_a_corrupt_word_file_is_reported_not_raised(tmp_path: Path) -> None:
    _report(tmp_path / "goc.docx")
    (tmp_path / "hong.docx").write_bytes((tmp_path / "goc.docx").read_bytes()[:3000])
    error = read_document(tmp_path / "hong.docx", "hong.docx", MAX)
    assert isinstance(error, FileError)
    assert "not a readable Word .docx file" in str(error) and "bị hỏng" in str(error)


# -- HTML -----------------------------------------------------------------------------------
GOLD = json.loads((PORTAL / "gold.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(GOLD))
def test_portal_pages_give_the_article_its_metadata_and_no_furniture(name: str) -> None:
    gold = GOLD[name]
    article, _ = clean_document(_read(PORTAL / gold.get("path", name)))
    assert (article.title, article.date, article.author) == (
        gold["title"],
        gold["date"],
        gold["author"],
    )
    text = match_form(article.body)
    for sentence in gold["body"]:
        assert match_form(sentence) in match_form(article.title + "\n" + article.body), sentence
    for furniture in gold["furniture"]:
        assert match_form(furniture) not in text, furniture


@pytest.mark.parametrize(
    ("name", "why"),
    [("trang-danh-sach.html", "not an article"), ("dang-nhap.html", "asks for a login")],
)
def test_pages_that_are_not_articles_are_refused_by_name(name: str, why: str) -> None:
    error = read_document(PORTAL / name, name, MAX)
    assert isinstance(error, FileError) and why in str(error) and name in str(error)


# -- a folder of mixed formats, as a user indexes it ----------------------------------------
def _hoidap(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOIDAP_")}
    env.update(HOIDAP_HOME=str(home), HOIDAP_EMBEDDER="fake")
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "hoidap"), "index", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def test_a_folder_of_txt_pdf_docx_and_html_indexes_every_article(tmp_path: Path) -> None:
    folder = tmp_path / "bai-viet"
    folder.mkdir()
    shutil.copy(DATA / "pages" / "thue-dien-tu.txt", folder)
    shutil.copy(FORMATS / "thong-cao-bac-ninh.pdf", folder)
    shutil.copy(PORTAL / "cong-tinh-dich-vu-cong.html", folder)
    _report(folder / "bao-cao.docx")
    result = _hoidap(tmp_path / "home", str(folder), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["files"], summary["articles_new"], summary["errors"]) == (4, 4, [])
    settings = Settings.load(env={"HOIDAP_HOME": str(tmp_path / "home")})
    chunks = ChunkStore(settings, "fake:hashing-256").all_chunks()
    titles = {c.source: (c.title, c.date) for c in chunks}
    assert titles["thong-cao-bac-ninh.pdf"][1] == "2026-12-04"
    assert titles["bao-cao.docx"] == (
        "Báo cáo kết quả chuyển đổi số năm 2026 của huyện Mường Khương",
        "2026-12-02",
    )
    assert titles["cong-tinh-dich-vu-cong.html"][1] == "2026-11-28"


def test_bad_documents_beside_good_ones_are_skipped_by_name_and_nothing_is_lost(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "bai-viet"
    folder.mkdir()
    shutil.copy(FORMATS / "thong-cao-bac-ninh.pdf", folder)
    _report(folder / "bao-cao.docx")
    home = tmp_path / "home"
    first = json.loads(_hoidap(home, str(folder), "--json").stdout)
    # The good files are damaged or replaced by unreadable ones; more bad files arrive.
    shutil.copy(FORMATS / "anh-quet.pdf", folder / "thong-cao-bac-ninh.pdf")
    (folder / "bao-cao.docx").write_bytes(b"PK\x03\x04 not really a zip")
    shutil.copy(FORMATS / "ma-hoa.pdf", folder)
    (folder / "bang-so-lieu.xlsx").write_bytes(b"PK")
    result = _hoidap(home, str(folder), "--prune")
    assert result.returncode == 1, result.stderr  # nothing could be read this time
    assert "Traceback" not in result.stderr
    skipped = [ln for ln in result.stderr.splitlines() if ln.startswith("bỏ qua / skipped: ")]
    for name, why in [
        ("thong-cao-bac-ninh.pdf", "needs OCR"),
        ("bao-cao.docx", "not a readable Word"),
        ("ma-hoa.pdf", "encrypted"),
        ("bang-so-lieu.xlsx", "unsupported file type"),
    ]:
        assert any(str(folder / name) in ln and why in ln for ln in skipped), (name, skipped)
    settings = Settings.load(env={"HOIDAP_HOME": str(home)})
    assert ChunkStore(settings, "fake:hashing-256").count() == first["chunks"]  # nothing lost


def test_every_supported_suffix_has_a_reader() -> None:
    assert {".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx"} == set(SUPPORTED)


def test_without_date_metadata_the_dated_element_gives_the_day_not_the_top_bar(tmp_path) -> None:
    page = (PORTAL / "bao-dien-tu-thanh-toan.html").read_text(encoding="utf-8")
    page = page.replace(
        '<meta property="article:published_time" content="2026-12-02T06:30:00+07:00">', ""
    ).replace(
        '<header class="header">',
        '<header class="header"><span class="date">Thứ Hai, 07/12/2026</span>',  # today
    )
    (tmp_path / "bai.html").write_text(page, encoding="utf-8")
    assert _read(tmp_path / "bai.html").date == "2026-12-02"


def test_a_page_whose_logo_is_its_h1_gets_the_headline_its_title_tag_repeats(tmp_path) -> None:
    lead = (
        "Từ ngày 1/1/2027, Hà Nội đưa vào khai thác thêm 12 tuyến xe buýt điện nối trung tâm "
        "với các huyện ngoại thành, nâng tổng số tuyến buýt điện lên 38 tuyến."
    )
    page = (
        "<html><head><title>Hà Nội mở thêm 12 tuyến buýt điện | Cổng thông tin Sở Giao thông"
        "</title></head><body><div class=logo><h1>Cổng thông tin Sở Giao thông</h1></div>"
        "<div class=menu><a href=/>Trang chủ</a> <a href=/tin>Tin tức</a></div><div class=content>"
        f"<h2>Hà Nội mở thêm 12 tuyến buýt điện</h2><p>{lead}</p><p>{lead}</p></div></body></html>"
    )
    (tmp_path / "bai.html").write_text(page, encoding="utf-8")
    article, _ = clean_document(_read(tmp_path / "bai.html"))
    assert article.title == "Hà Nội mở thêm 12 tuyến buýt điện"
    assert "Cổng thông tin Sở Giao thông" not in article.body
