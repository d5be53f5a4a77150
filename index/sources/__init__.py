"""Source readers: each kind of source becomes :class:`Document` articles the same way.

``read_document`` picks the reader by file suffix; web addresses go through
:mod:`index.sources.web`. Nothing after this package knows which kind of source an
article came from.
"""

from __future__ import annotations

from pathlib import Path

from index.loader import FileError
from index.sources.base import Document, Reader
from index.sources.docx import DocxReader
from index.sources.html import HtmlReader
from index.sources.pdf import PdfReader
from index.sources.text import TextReader

READERS: tuple[Reader, ...] = (TextReader(), HtmlReader(), PdfReader(), DocxReader())
_BY_SUFFIX: dict[str, Reader] = {s: r for r in READERS for s in r.suffixes}
SUPPORTED: tuple[str, ...] = tuple(_BY_SUFFIX)


def read_document(path: Path, source: str, max_bytes: int) -> Document | FileError:
    """The article in one file, or why it cannot be indexed."""
    reader = _BY_SUFFIX.get(path.suffix.lower())
    if reader is None:
        return FileError(
            path,
            f"unsupported file type {path.suffix!r}; expected one of {', '.join(SUPPORTED)}",
            f"loại tệp không được hỗ trợ; dùng {', '.join(SUPPORTED)}",
        )
    return reader.read(path, source, max_bytes)


__all__ = ["SUPPORTED", "Document", "FileError", "read_document"]
