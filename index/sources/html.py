"""Web pages (.html files and fetched pages): the article's main text and its metadata.

Main-content extraction is trafilatura's (measured against the hand-written block parser
this replaced on Vietnamese portal pages: bench/extract_bench.py). Dates come from the
page's structured metadata (``article:published_time``, JSON-LD ``datePublished``,
``<time>``), read by htmldate, else from a dd/mm/yyyy stamp in an element marked as a date
outside the page's header and menus. htmldate's whole-page search is not used: on a portal
page it took the oldest date, a related link's, or asked for the newest, today's date from
the top bar. A date in the article text is left to the Vietnamese cleaner. A page that is not an article (a list
of links, a login form) is refused with the reason rather than indexed as furniture.
"""

from __future__ import annotations

import re
import warnings
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from index.loader import FileError, read_bytes
from index.normalize import match_form
from index.sources.base import Document, iso_date, with_title

# Words in "prose" lines (sentences of some length, not link titles or menu items) an
# article must have.
MIN_PROSE_WORDS = 30
PROSE_LINE_WORDS = 12
_TITLE_SEPARATORS = re.compile(r"\s+[|\-–—:»]\s+|\s*::\s*")
# Paragraphs end a sentence; link titles and menu entries do not.
_SENTENCE_END = re.compile(r"[.!?…][\"”’»)\]]*$")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?$")


@dataclass
class PageText:
    """What a page states: its article lines and metadata (any of them may be missing)."""

    lines: list[str] = field(default_factory=list)
    title: str | None = None
    date: str | None = None
    author: str | None = None
    canonical: str | None = None
    login_form: bool = False


def _quiet_imports():
    """trafilatura logs through the root logger and warns on odd markup; neither is ours."""
    import logging

    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    logging.getLogger("htmldate").setLevel(logging.ERROR)
    import htmldate
    import trafilatura
    from trafilatura.utils import load_html

    return trafilatura, htmldate, load_html


def _first(tree, xpath: str) -> str:
    found = tree.xpath(xpath)
    return " ".join(str(found[0]).split()) if found else ""


def _text_of(element) -> str:
    return " ".join(element.text_content().split())


def _stated_title(tree) -> str:
    """The headline the page states as such: og/twitter title, else an h1 inside the article."""
    for xpath in (
        '//meta[@property="og:title"]/@content',
        '//meta[@name="twitter:title"]/@content',
    ):
        if title := _first(tree, xpath):
            return title
    for h1 in tree.xpath("//article//h1 | //main//h1"):
        if text := _text_of(h1):
            return text
    return ""


def _title_headings(tree) -> list[str]:
    """Headings (h1, h2) the <title> repeats as one of its parts ("Headline - Site")."""
    head = _first(tree, "//title/text()")
    parts = {match_form(p) for p in _TITLE_SEPARATORS.split(head) if p.strip()} if head else set()
    found = (_text_of(h) for h in tree.xpath("//h1 | //h2"))
    return [text for text in found if text and match_form(text) in parts]


def _pick_title(
    stated: str, head: str, headings: list[str], extracted: str | None, lines: list[str]
) -> str | None:
    """The article's headline: the one the page states (``stated``), else a part of the
    <title> (``head``) that opens the text, else the longest heading the <title> repeats
    (a headline is longer than a site name); these beat trafilatura's guess, which takes
    the site name when the <title> reads "Site - Headline"."""
    if stated:
        return stated
    parts = [p for p in _TITLE_SEPARATORS.split(head) if p.strip()] if head else []
    opening = {match_form(line): line for line in lines[:5]}
    for part in parts:
        if match_form(part) in opening:
            return opening[match_form(part)]
    if headings:
        return max(headings, key=len)
    return extracted or (max(parts, key=len) if parts else None)


_DATE_ELEMENTS = (
    "//*[not(self::script or self::style)][contains(@class, 'date') or contains(@class, 'time')"
    " or contains(@class, 'ngay') or contains(@class, 'publish') or contains(@id, 'date')]"
)
_CHROME = {"header", "nav", "footer", "aside"}
_TOP_BARS = ("top-bar", "topbar", "header-top", "top-header")


def _top_bar(element) -> bool:
    classes = (element.get("class") or "").lower()
    return any(name in classes for name in _TOP_BARS)


def _in_chrome(element) -> bool:
    return any(a.tag in _CHROME or _top_bar(a) for a in element.iterancestors())


def _without_chrome(tree):
    """A copy of the page without its header, menus, asides and footer, where portals show
    today's date (htmldate takes any element whose class says "date")."""
    copy = deepcopy(tree)
    for element in copy.xpath(
        "//body//*[self::header or self::nav or self::footer or self::aside]"
    ):
        if not element.xpath("ancestor::article") and element.getparent() is not None:
            element.getparent().remove(element)
    for element in copy.xpath("//body//*[@class]"):
        if _top_bar(element) and element.getparent() is not None:
            element.getparent().remove(element)
    return copy


def _date_stamp(tree) -> str | None:
    """A Vietnamese date stamp ("Thứ tư, 2/12/2026, 06:30 (GMT+7)") in an element marked as
    a date, outside the page's header, menus and footer (where today's date is shown)."""
    from index.clean import parse_date

    for element in tree.xpath(_DATE_ELEMENTS):
        text = " ".join(element.text_content().split())
        if not text or len(text) > 80:
            continue
        if not _in_chrome(element) and (iso := parse_date(text)):
            return iso
    return None


def _canonical(tree, page_url: str | None) -> str | None:
    href = _first(tree, '//link[@rel="canonical"]/@href') or _first(
        tree, '//meta[@property="og:url"]/@content'
    )
    if not href:
        return None
    url = urljoin(page_url or "", href)
    if re.search(r"[\s<>\"'`]", url):  # not an address a reader can be sent to
        return None
    return url if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc else None


def _lines(text: str) -> list[str]:
    """trafilatura's text as plain lines: list bullets and table pipes removed."""
    out = []
    for raw in text.split("\n"):
        line = raw.strip()
        if _TABLE_RULE.match(line):
            continue
        if line.startswith("|"):
            line = " | ".join(c.strip() for c in line.strip("|").split("|") if c.strip())
        elif line.startswith(("- ", "* ")):
            line = line[2:].strip()
        if line:
            out.append(line)
    return out


def _drop_before_title(lines: list[str], title: str | None) -> list[str]:
    """Lines above the headline near the top are a breadcrumb or the site name."""
    if not title:
        return lines
    key = match_form(title)
    for i, line in enumerate(lines[:5]):
        if match_form(line) == key:
            return lines[i + 1 :]
    return lines


def page_text(html: bytes | str, url: str | None = None) -> PageText:
    """Article lines and metadata of one page (empty lines when there is no main text)."""
    trafilatura, htmldate, load_html = _quiet_imports()
    tree = load_html(html)
    if tree is None:
        return PageText()
    # Read what the page states before extraction, which prunes the tree it is given.
    stated, head = _stated_title(tree), _first(tree, "//title/text()")
    headings = _title_headings(tree)
    canonical, stamp = _canonical(tree, url), _date_stamp(tree)
    login_form = bool(tree.xpath('//input[@type="password"]'))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        date = htmldate.find_date(
            _without_chrome(tree), extensive_search=False, original_date=True, url=url
        )
        doc = trafilatura.bare_extraction(
            tree,
            url=url,
            with_metadata=True,
            favor_recall=True,  # keeps the lead paragraph that default mode dropped
            include_comments=False,
            include_tables=True,
            include_images=False,
            date_extraction_params={"extensive_search": False, "original_date": True},
        )
    lines = _lines(doc.text or "") if doc is not None else []
    title = _pick_title(stated, head, headings, doc.title if doc is not None else None, lines)
    author = doc.author if doc is not None else None
    return PageText(
        lines=_drop_before_title(lines, title),
        title=title,
        date=iso_date(date) or stamp,
        author=author if author and not author.lower().startswith("http") else None,
        canonical=canonical,
        login_form=login_form,
    )


def not_an_article(page: PageText) -> tuple[str, str] | None:
    """Why a page is not an article (English, Vietnamese), or None when it is one."""
    prose = sum(
        len(ln.split())
        for ln in page.lines
        if len(ln.split()) >= PROSE_LINE_WORDS and _SENTENCE_END.search(ln)
    )
    if prose >= MIN_PROSE_WORDS:
        return None
    if page.login_form:
        return (
            "the page asks for a login (a password form), not an article; index a public page",
            "trang yêu cầu đăng nhập, không phải bài viết; hãy dùng trang công khai",
        )
    return (
        f"not an article: no paragraphs of text ({prose} words of prose; a list of links "
        "or a menu page?)",
        "không phải bài viết: trang không có đoạn văn (trang danh sách liên kết?)",
    )


def page_document(
    data: bytes, source: str | None, where: Path | str, url: str | None = None
) -> Document | FileError:
    """A page as a :class:`Document`, or the reason it is not an article. A fetched page
    (``url``) without a ``source`` is named by its canonical address."""
    page = page_text(data, url)
    problem = not_an_article(page)
    if problem is not None:
        return FileError(where, *problem)
    return Document(
        source=source or page.canonical or url or str(where),
        text=with_title(page.title, page.lines),
        data=data,
        title=page.title,
        date=page.date,
        author=page.author,
        url=url and (page.canonical or url),
    )


def html_page(html: str) -> tuple[str, dict[str, str]]:
    """Plain text (title first) and stated metadata of a page, for the cleaner's callers."""
    page = page_text(html)
    hints = {"title": page.title, "date": page.date, "author": page.author}
    return with_title(page.title, page.lines), {k: v for k, v in hints.items() if v}


class HtmlReader:
    suffixes = (".html", ".htm")

    def read(self, path: Path, source: str, max_bytes: int) -> Document | FileError:
        data = read_bytes(path, max_bytes)
        if isinstance(data, FileError):
            return data
        if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return FileError(
                path,
                "file looks binary (NUL bytes); expected an HTML page",
                "tệp nhị phân, không phải trang HTML",
            )
        return page_document(data, source, path)
