"""PDF files: the text layer, in paragraphs, with the title and date the document states.

pypdfium2 (PDFium, Chromium's PDF engine) reads the text layer: measured on a press
release printed by Chromium it keeps Vietnamese stacked diacritics whole where pypdf
split them ("S Ở" for "SỞ"), at 15x pypdf's speed (bench/extract_bench.py). A PDF's lines
are its visual lines; paragraphs are rebuilt from where lines end. A browser's print
header and footer (date and time, page title, file address, page counter) and running
headers repeated on every page are not article text. A PDF without a text layer (a scan)
is refused as needing OCR, naming the file.
"""

from __future__ import annotations

import re
from pathlib import Path

from index.clean import find_stated_date
from index.loader import FileError, read_bytes
from index.normalize import match_form
from index.sources.base import Document, iso_date, with_title

# Characters of text a page must average to count as having a text layer.
MIN_CHARS_PER_PAGE = 40
_PAGE_COUNTER = re.compile(r"^(?:trang\s*)?\d{1,4}\s*(?:/|of|trên)\s*\d{1,4}$|^\d{1,4}$", re.I)
_ADDRESS_LINE = re.compile(r"^(?:https?|file)://\S+(?:\s+\d{1,4}\s*/\s*\d{1,4})?$", re.I)
# Chromium's print header: "12/7/26, 11:37 AM  <page title>".
_PRINT_HEADER = re.compile(r"^\d{1,2}/\d{1,2}/\d{2,4},?\s+\d{1,2}:\d{2}(?:\s*[AP]M)?\b", re.I)
_BROWSER = re.compile(r"chrome|chromium|mozilla|webkit|skia", re.I)
_SENTENCE_END = tuple('.!?…:;"”’)»')
_USELESS_TITLE = re.compile(
    r"^(?:untitled|microsoft (?:word|powerpoint)\b|.*\.(?:docx?|pdf|html?|odt)$)", re.I
)


def _page_lines(pdf) -> list[list[str]]:
    pages = []
    for i in range(len(pdf)):
        page = pdf[i]
        textpage = page.get_textpage()
        text = textpage.get_text_range()
        textpage.close()
        page.close()
        pages.append([" ".join(ln.split()) for ln in text.replace("\r", "\n").split("\n")])
    return [[ln for ln in lines if ln] for lines in pages]


def _running_lines(pages: list[list[str]]) -> set[str]:
    """Lines at the top or bottom of most pages (numbers ignored): running headers/footers."""
    if len(pages) < 2:
        return set()
    counts: dict[str, int] = {}
    for lines in pages:
        for key in {re.sub(r"\d+", "#", ln) for ln in lines[:2] + lines[-2:]}:
            counts[key] = counts.get(key, 0) + 1
    return {k for k, n in counts.items() if n >= max(2, (len(pages) + 1) // 2)}


def _furniture(line: str, running: set[str]) -> bool:
    return bool(
        _PAGE_COUNTER.match(line)
        or _ADDRESS_LINE.match(line)
        or _PRINT_HEADER.match(line)
        or re.sub(r"\d+", "#", line) in running
    )


def _paragraphs(lines: list[str]) -> list[str]:
    """Visual lines joined into paragraphs: a line ends one when it ends a sentence, is
    clearly shorter than the text width (a heading, a paragraph's last line) or is in
    capitals (an agency header)."""
    if not lines:
        return []
    widths = sorted(len(ln) for ln in lines)
    full = widths[int(0.9 * (len(widths) - 1))]
    out: list[str] = []
    current: list[str] = []
    for line in lines:
        current.append(line)
        ends = (
            line.endswith(_SENTENCE_END)
            or len(line) < 0.75 * full
            or (line.upper() == line and any(c.isalpha() for c in line))
        )
        if ends:
            out.append(" ".join(current))
            current = []
    if current:
        out.append(" ".join(current))
    return out


def _rejoin_heading(paragraphs: list[str], title: str) -> list[str]:
    """A headline wrapped over two short lines is one line again when the document's title
    ends with (or is) the two joined."""
    key = match_form(title)
    out: list[str] = []
    for para in paragraphs:
        if out and key and len(out[-1]) >= 10:
            joined = f"{out[-1]} {para}"
            if match_form(joined) in key and match_form(out[-1]) in key:
                out[-1] = joined
                continue
        out.append(para)
    return out


def _title(stated: str, paragraphs: list[str], path: Path) -> str:
    """The document's title field, else its first short non-capitals line, else the name."""
    stated = " ".join(stated.split())
    if stated and not _USELESS_TITLE.match(stated):
        return stated
    for para in paragraphs[:8]:
        words = len(para.split())
        if 3 <= words <= 30 and para.upper() != para and find_stated_date([para]) is None:
            return para
    return path.stem.replace("_", " ").replace("-", " ")


def read_pdf(data: bytes, path: Path, source: str) -> Document | FileError:
    """One PDF as a Document, or why it cannot be read."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            return FileError(
                path,
                "the PDF is encrypted (password protected); save an unprotected copy",
                "tệp PDF được đặt mật khẩu; hãy lưu một bản không mật khẩu",
            )
        return FileError(
            path,
            f"not a readable PDF ({exc}); open and re-save it, or export it again",
            "tệp PDF bị hỏng hoặc không đọc được; hãy lưu hoặc xuất lại tệp",
        )
    try:
        pages = _page_lines(pdf)
        meta = pdf.get_metadata_dict()
    finally:
        pdf.close()
    running = _running_lines(pages)
    lines = [ln for page in pages for ln in page if not _furniture(ln, running)]
    chars = sum(len(ln) for ln in lines)  # a printout's header and footer are not a text layer
    if chars < MIN_CHARS_PER_PAGE * max(1, len(pages)):
        return FileError(
            path,
            f"the PDF has no text layer ({len(pages)} page(s) of images, {chars} characters "
            "of text): it needs OCR before it can be indexed",
            "tệp PDF không có lớp chữ (ảnh quét): cần nhận dạng chữ (OCR) trước khi lập chỉ mục",
        )
    paragraphs = _rejoin_heading(_paragraphs(lines), meta.get("Title", ""))
    title = _title(meta.get("Title", ""), paragraphs, path)
    # A dateline in the text is the publication date; the file's creation date is only
    # when it was produced, used when the text has none (a browser printout's is the printing
    # day, never used).
    date = find_stated_date(paragraphs[:12])
    if date is None and not _BROWSER.search(meta.get("Creator", "") + meta.get("Producer", "")):
        date = iso_date(_pdf_date(meta.get("CreationDate", "")))
    author = " ".join(meta.get("Author", "").split()) or None
    return Document(source, with_title(title, paragraphs), data, title, date, author)


def _pdf_date(value: str) -> str | None:
    """``D:20261204093000+07'00'`` -> ``2026-12-04``."""
    m = re.match(r"^(?:D:)?(\d{4})(\d{2})(\d{2})", value.strip())
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}" if m else None


class PdfReader:
    suffixes = (".pdf",)

    def read(self, path: Path, source: str, max_bytes: int) -> Document | FileError:
        data = read_bytes(path, max_bytes)
        if isinstance(data, FileError):
            return data
        return read_pdf(data, path, source)
