"""Markdown (and HTML) pages to plain text lines, plus the metadata their markup states.

Cleaning (:mod:`index.clean`) works on lines of text; this module turns markup into
such lines so the same furniture rules apply to .txt, .md and .html input. Markdown
keeps its block structure (one paragraph per line) without images or syntax, and its
front matter gives the title, date and author. HTML pages go to the main-content
extractor of :mod:`index.sources.html`.
"""

from __future__ import annotations

import re

_ISO_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def html_page(html: str) -> tuple[str, dict[str, str]]:
    """Plain text (title first, one block per line) and the metadata the page states
    (main-content extraction: :mod:`index.sources.html`)."""
    from index.sources.html import html_page as extract

    return extract(html)


def html_to_text(html: str) -> str:
    """The page's article text: one block per line, page furniture removed, title first."""
    return html_page(html)[0]


def _iso_date(value: str) -> str | None:
    m = _ISO_DATE_RE.match(value.strip())
    if not m:
        return None
    year, month, day = (int(g) for g in m.groups())
    return f"{year:04d}-{month:02d}-{day:02d}" if 1 <= month <= 12 and 1 <= day <= 31 else None


# --- Markdown -------------------------------------------------------------------------
_FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_MD_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), ""),  # images: their alt text is a caption
    (re.compile(r"!\[[^\]]*\]\[[^\]]*\]"), ""),
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links keep their text
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),
    (re.compile(r"<(?:https?://|mailto:)[^>]+>"), ""),
    (re.compile(r"`([^`]*)`"), r"\1"),
    (re.compile(r"\*\*(.+?)\*\*"), r"\1"),
    (re.compile(r"(?<!\w)__(.+?)__(?!\w)"), r"\1"),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)"), r"\1"),
]
_MD_LINE_DROP = [
    re.compile(r"^\s*\[[^\]]+\]:\s*\S+"),  # reference link definitions
    re.compile(r"^\s*(?:[-*_=]\s*){3,}$"),  # rules and setext underlines
    re.compile(r"^\s*```"),
]


def _front_matter(text: str) -> tuple[str, dict[str, str]]:
    m = _FRONT_MATTER_RE.match(text)
    if not m:
        return text, {}
    hints: dict[str, str] = {}
    for line in m.group(1).splitlines():
        key, sep, value = line.partition(":")
        value = value.strip().strip("\"'")
        if not sep or not value:
            continue
        key = key.strip().lower()
        if key == "title":
            hints["title"] = value
        elif key in ("date", "published", "pubdate") and (iso := _iso_date(value)):
            hints["date"] = iso
        elif key in ("author", "authors", "source"):
            hints.setdefault("author", value)
    return text[m.end() :], hints


def markdown_page(text: str) -> tuple[str, dict[str, str]]:
    """Plain text lines of a Markdown article and the metadata its front matter gives."""
    text, hints = _front_matter(text.replace("\r\n", "\n"))
    out: list[str] = []
    for line in text.split("\n"):
        if any(rx.match(line) for rx in _MD_LINE_DROP):
            out.append("")
            continue
        line = re.sub(r"^\s{0,3}#{1,6}\s+", "", line)  # ATX heading
        line = re.sub(r"\s+#+\s*$", "", line)
        line = re.sub(r"^\s*(?:>\s?)+", "", line)  # blockquote
        line = re.sub(r"^\s*[-*+]\s+", "", line)  # bullet
        for rx, repl in _MD_RULES:
            line = rx.sub(repl, line)
        out.append(line.rstrip())
    body = "\n".join(out)
    title = hints.get("title")
    if title:
        body = f"{title}\n{body}"
    return body, hints


def looks_like_html(text: str) -> bool:
    return bool(re.search(r"<(?:!doctype html|html|body|p|div|article)\b", text[:5000], re.I))


def to_plain_text(raw: str, source: str) -> tuple[str, dict[str, str]]:
    """Dispatch on the file type (and sniff HTML saved as .txt)."""
    name = source.lower()
    if name.endswith((".html", ".htm")) or looks_like_html(raw):
        return html_page(raw)
    if name.endswith((".md", ".markdown")):
        return markdown_page(raw)
    return raw, {}
