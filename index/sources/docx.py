"""Word files (.docx): paragraphs and tables in order, title and date from the document.

python-docx reads the body. The title is the document's Title property, else its first
Title or Heading 1 paragraph; the date is a dateline in the text ("Hà Nội, ngày 5 tháng
12 năm 2026"), else the Created property. Properties that python-docx's own blank
template carries (author "python-docx", created 2013-12-23) describe the template, not
the report, and are ignored.
"""

from __future__ import annotations

import datetime
import io
from pathlib import Path
from zipfile import BadZipFile

from index.clean import find_stated_date
from index.loader import FileError, read_bytes
from index.sources.base import Document, iso_date, with_title

_TEMPLATE_AUTHORS = {"python-docx", "un-named", ""}
_TEMPLATE_CREATED = datetime.date(2013, 12, 23)
_HEADING_STYLES = ("title", "heading 1", "tiêu đề")


def _blocks(document) -> list[tuple[str, str]]:
    """(style name, text) of each paragraph and table row, in document order."""
    from docx.table import Table

    out: list[tuple[str, str]] = []
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            for row in item.rows:
                cells: list[str] = []
                for cell in row.cells:
                    text = " ".join(cell.text.split())
                    if text and (not cells or cells[-1] != text):  # merged cells repeat
                        cells.append(text)
                if cells:
                    out.append(("table", " | ".join(cells)))
            continue
        text = " ".join(item.text.split())
        if text:
            style = (item.style.name if item.style is not None else "") or ""
            out.append((style.lower(), text))
    return out


def _title(stated: str | None, blocks: list[tuple[str, str]], path: Path) -> str:
    stated = " ".join((stated or "").split())
    if stated:
        return stated
    for style, text in blocks:
        if style.startswith(_HEADING_STYLES):
            return text
    for _style, text in blocks[:5]:
        if 3 <= len(text.split()) <= 30 and find_stated_date([text]) is None:
            return text
    return path.stem.replace("_", " ").replace("-", " ")


def _created(props) -> str | None:
    created = props.created
    if created is None or created.date() == _TEMPLATE_CREATED:
        return None
    return iso_date(created)


def read_docx(data: bytes, path: Path, source: str) -> Document | FileError:
    """One Word file as a Document, or why it cannot be read."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from lxml.etree import XMLSyntaxError

    try:
        document = docx.Document(io.BytesIO(data))
        blocks = _blocks(document)
        props = document.core_properties
    except (PackageNotFoundError, BadZipFile, XMLSyntaxError, KeyError, ValueError) as exc:
        return FileError(
            path,
            f"not a readable Word .docx file ({type(exc).__name__}); open it in Word or "
            "LibreOffice and save it again as .docx",
            "tệp Word .docx bị hỏng hoặc không đọc được; hãy mở và lưu lại dạng .docx",
        )
    if not blocks:
        return FileError(path, "the Word file has no text", "tệp Word không có nội dung chữ")
    title = _title(props.title, blocks, path)
    lines = [text for _style, text in blocks]
    date = find_stated_date(lines[:12]) or _created(props)
    author = (props.author or "").strip()
    author = None if author.lower() in _TEMPLATE_AUTHORS else author
    return Document(source, with_title(title, lines), data, title, date, author)


class DocxReader:
    suffixes = (".docx",)

    def read(self, path: Path, source: str, max_bytes: int) -> Document | FileError:
        data = read_bytes(path, max_bytes)
        if isinstance(data, FileError):
            return data
        return read_docx(data, path, source)
