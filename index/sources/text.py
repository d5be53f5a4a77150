"""Plain text and Markdown files; an HTML page saved as .txt is read as a page."""

from __future__ import annotations

from pathlib import Path

from index.loader import FileError, read_file
from index.markup import looks_like_html, markdown_page
from index.sources.base import Document
from index.sources.html import page_document


class TextReader:
    suffixes = (".txt", ".md", ".markdown")

    def read(self, path: Path, source: str, max_bytes: int) -> Document | FileError:
        raw = read_file(path, max_bytes=max_bytes, source=source)
        if isinstance(raw, FileError):
            return raw
        if looks_like_html(raw.text):
            return page_document(raw.data, source, path)
        if path.suffix.lower() in (".md", ".markdown"):
            text, hints = markdown_page(raw.text)
            return Document(source, text, raw.data, **hints)
        # Plain text as written: the cleaner finds the title, date and author lines.
        return Document(source, raw.text, raw.data)
