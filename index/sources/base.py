"""What every source reader gives the index: one article's text and the metadata it states.

A reader turns one kind of source (a text file, a web page, a PDF, a Word file) into a
:class:`Document`: plain text, title first, one paragraph per line, plus the title, date,
author and address the source itself states. Cleaning, chunking and storing never ask
which kind it was. A source that cannot give an article is a :class:`~index.loader.FileError`
naming it and saying why, in Vietnamese and English.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from index.loader import FileError


@dataclass(frozen=True)
class Document:
    """One article as its source gives it, before cleaning."""

    source: str  # how the store names it: a path inside the indexed folder, or a web address
    text: str  # plain text, the title on the first line, one paragraph per line
    data: bytes  # the bytes read: their hash says whether the article changed since last run
    title: str | None = None
    date: str | None = None  # ISO YYYY-MM-DD, as the source's own metadata states it
    author: str | None = None
    url: str | None = None  # the original's address (web sources): citations link to it

    def hints(self) -> dict[str, str]:
        """Metadata for the cleaner: what the source states beats what the text suggests."""
        found = {"title": self.title, "date": self.date, "author": self.author}
        return {k: v for k, v in found.items() if v}


class Reader(Protocol):
    """One kind of file. ``read`` never raises for bad input: it returns the reason."""

    suffixes: tuple[str, ...]

    def read(self, path: Path, source: str, max_bytes: int) -> Document | FileError: ...


_ISO_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def iso_date(value: object) -> str | None:
    """``YYYY-MM-DD`` from a datetime or an ISO-like string; None when it is not a real date."""
    if value is None:
        return None
    if hasattr(value, "date") and hasattr(value, "year"):
        value = value.isoformat()
    m = _ISO_RE.match(str(value).strip())
    if not m:
        return None
    year, month, day = (int(g) for g in m.groups())
    if not (1900 < year < 2200 and 1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{year:04d}-{month:02d}-{day:02d}"


def with_title(title: str | None, lines: list[str]) -> str:
    """The text a reader hands on: the title line first (the cleaner takes line one as the
    title and drops its repeats), then the paragraphs."""
    body = "\n".join(lines)
    return f"{title}\n{body}" if title else body
