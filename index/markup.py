"""HTML and Markdown pages to plain text lines, plus the metadata their markup states.

Cleaning (:mod:`index.clean`) works on lines of text; this module turns markup into
such lines so the same furniture rules apply to .txt, .md and .html input. It keeps
the block structure (one paragraph per line), drops page chrome that HTML5 marks as
such (``nav``, page-level ``header``/``footer``, ``aside``, ``figure``, scripts) and
Markdown images, and reports the title, date and author that ``<meta>`` tags or a
Markdown front matter give, because those are more reliable than guessing from text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

# Tags whose content is never article text.
_SKIP_ALWAYS = {
    "script", "style", "noscript", "template", "svg", "iframe", "form", "button",
    "select", "nav", "aside", "figure", "figcaption", "head",
}  # fmt: skip
# Page-level chrome; inside <article> the same tags hold the headline and date instead.
_SKIP_OUTSIDE_ARTICLE = {"header", "footer"}
_ARTICLE_TAGS = {"article", "main"}
_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "article", "section", "main", "header", "footer", "blockquote", "pre",
    "hr", "dl", "dt", "dd", "address", "time",
}  # fmt: skip
_CELL_TAGS = {"td", "th"}
_VOID_TAGS = {"br", "hr", "img", "meta", "link", "input", "source", "wbr", "area", "col"}
_META_KEYS = {
    "title": ("og:title", "twitter:title", "title"),
    "date": ("article:published_time", "pubdate", "publishdate", "date", "dc.date.issued"),
    "author": ("author", "article:author", "dc.creator"),
}
_ISO_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


@dataclass
class _Block:
    text: str
    in_article: bool
    is_h1: bool


class _Collector(HTMLParser):
    """Collects block texts, remembering which lie inside <article>/<main> and which are <h1>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[_Block] = []
        self.meta: dict[str, str] = {}
        self.head_title = ""
        self._stack: list[str] = []
        self._skip = 0
        self._article = 0
        self._h1 = 0
        self._in_title = False
        self._buf: list[str] = []

    def _flush(self) -> None:
        text = re.sub(r"\s+", " ", "".join(self._buf)).strip()
        self._buf = []
        if text:
            self.blocks.append(_Block(text, self._article > 0, self._h1 > 0))

    def _skips(self, tag: str) -> bool:
        return tag in _SKIP_ALWAYS or (tag in _SKIP_OUTSIDE_ARTICLE and not self._article)

    def handle_starttag(self, tag: str, attrs) -> None:
        attrs = {k.lower(): (v or "") for k, v in attrs}
        if tag == "meta":
            key = (
                attrs.get("property") or attrs.get("name") or attrs.get("itemprop") or ""
            ).lower()
            if key and attrs.get("content") and key not in self.meta:
                self.meta[key] = attrs["content"].strip()
            return
        if tag == "title" and (not self._skip or "head" in self._stack):
            self._in_title = True
            return
        if tag == "body" and "head" in self._stack:  # </head> may be omitted
            self.handle_endtag("head")
        if tag in _VOID_TAGS:
            if tag in _BLOCK_TAGS and not self._skip:
                self._flush()
            return
        self._stack.append(tag)
        if self._skip or self._skips(tag):
            self._skip += 1
            return
        if tag in _BLOCK_TAGS:
            self._flush()
        elif tag in _CELL_TAGS and "".join(self._buf).strip():
            self._buf.append(" | ")  # table cells of one row stay on one line
        if tag in _ARTICLE_TAGS:
            self._article += 1
        if tag == "h1":
            self._h1 += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._in_title:
            self._in_title = False
            return
        if tag in _VOID_TAGS or tag not in self._stack:
            return
        # Close up to the matching open tag (tolerates unclosed inner tags).
        while self._stack:
            open_tag = self._stack.pop()
            if self._skip:
                self._skip -= 1
            else:
                if open_tag in _BLOCK_TAGS:
                    self._flush()
                if open_tag in _ARTICLE_TAGS:
                    self._article -= 1
                if open_tag == "h1":
                    self._h1 -= 1
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.head_title += data
        elif not self._skip:
            self._buf.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def _iso_date(value: str) -> str | None:
    m = _ISO_DATE_RE.match(value.strip())
    if not m:
        return None
    year, month, day = (int(g) for g in m.groups())
    return f"{year:04d}-{month:02d}-{day:02d}" if 1 <= month <= 12 and 1 <= day <= 31 else None


def _strip_site_suffix(title: str) -> str:
    """``Headline | Báo X`` -> ``Headline`` (a pipe almost always separates the site name)."""
    head, sep, _tail = title.rpartition("|")
    return head.strip() if sep and head.strip() else title.strip()


def html_page(html: str) -> tuple[str, dict[str, str]]:
    """Plain text (title first, one block per line) and the metadata the page states."""
    parser = _Collector()
    parser.feed(html)
    parser.close()
    blocks = parser.blocks
    if any(b.in_article for b in blocks):
        blocks = [b for b in blocks if b.in_article]
    h1 = next((b for b in blocks if b.is_h1), None)
    meta = {
        name: next((parser.meta[k] for k in keys if parser.meta.get(k)), "")
        for name, keys in _META_KEYS.items()
    }
    title = h1.text if h1 else _strip_site_suffix(meta["title"] or parser.head_title)
    lines = [title] if title else []
    lines.extend(b.text for b in blocks if b is not h1)
    hints = {"title": title}
    if meta["date"] and (iso := _iso_date(meta["date"])):
        hints["date"] = iso
    if meta["author"] and not meta["author"].lower().startswith("http"):
        hints["author"] = meta["author"]
    return "\n".join(lines), {k: v for k, v in hints.items() if v}


def html_to_text(html: str) -> str:
    """Block-aware HTML to text: one block per line, page chrome removed, title first."""
    return html_page(html)[0]


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
