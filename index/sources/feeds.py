"""Lists of articles: sitemaps (sitemaps.org XML) and RSS/Atom feeds.

A fetched address is a listing when its body is XML with a sitemap or feed root; an
address that says it is XML (its type or its name) but does not parse is a broken
listing, reported as such; anything else is a page. Feeds are read by feedparser, which
also takes the slightly malformed feeds portals publish; its dates are read from the
original text so that a 06:00 +07:00 publication keeps its Vietnamese calendar day.
"""

from __future__ import annotations

import email.utils
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from index.sources.base import iso_date

_SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
_XML_START = re.compile(
    rb"^\s*(?:<\?xml|<rss\b|<feed\b|<urlset\b|<sitemapindex\b|<rdf:RDF\b)", re.I
)


@dataclass
class Entry:
    url: str
    date: str | None = None
    title: str | None = None


@dataclass
class Listing:
    kind: str  # "sitemap" | "sitemap index" | "feed"
    entries: list[Entry] = field(default_factory=list)


class NotAListing(ValueError):
    """The body claimed to be XML (by type or name) but is neither a sitemap nor a feed."""


_XML_TYPES = ("application/xml", "text/xml", "application/rss+xml", "application/atom+xml")


def looks_like_xml(url: str, content_type: str, data: bytes) -> bool:
    """Whether a response presents itself as a feed or sitemap (a PDF or a Word file, whose
    media type also says "xml", does not)."""
    if data.startswith((b"%PDF", b"PK\x03\x04")):
        return False
    path = urlsplit(url).path.lower()
    return (
        content_type in _XML_TYPES
        or path.endswith((".xml", ".rss", ".atom"))
        or bool(_XML_START.match(data[:512]))
    )


def _feed_date(entry) -> str | None:
    for key in ("published", "updated", "created"):
        raw = entry.get(key)
        if not raw:
            continue
        try:
            return email.utils.parsedate_to_datetime(raw).date().isoformat()
        except (TypeError, ValueError, IndexError):
            if date := iso_date(raw):
                return date
    return None


def _sitemap(root: ET.Element, base: str) -> Listing:
    index = root.tag == f"{_SITEMAP_NS}sitemapindex"
    child = "sitemap" if index else "url"
    entries = []
    for item in root.iter(f"{_SITEMAP_NS}{child}"):
        loc = (item.findtext(f"{_SITEMAP_NS}loc") or "").strip()
        if loc:
            lastmod = item.findtext(f"{_SITEMAP_NS}lastmod") or ""
            entries.append(Entry(urljoin(base, loc), iso_date(lastmod)))
    return Listing("sitemap index" if index else "sitemap", entries)


def _feed(data: bytes, base: str) -> Listing | None:
    import feedparser

    parsed = feedparser.parse(data)
    if not parsed.get("version") and not parsed.entries:
        return None
    entries = [
        Entry(
            urljoin(base, e.link), _feed_date(e), " ".join((e.get("title") or "").split()) or None
        )
        for e in parsed.entries
        if e.get("link")
    ]
    return Listing("feed", entries)


def read_listing(url: str, content_type: str, data: bytes) -> Listing | None:
    """The sitemap or feed in a response; None when it is a page; NotAListing when it
    presents itself as XML and is not a readable sitemap or feed."""
    if not looks_like_xml(url, content_type, data):
        return None
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        listing = _feed(data, url)  # feedparser reads feeds that are not well-formed XML
        if listing is not None and listing.entries:
            return listing
        raise NotAListing(f"not well-formed XML ({exc})") from exc
    if root.tag in (f"{_SITEMAP_NS}urlset", f"{_SITEMAP_NS}sitemapindex"):
        return _sitemap(root, url)
    listing = _feed(data, url)
    if listing is None:
        raise NotAListing(f"XML whose root <{root.tag}> is neither a sitemap nor an RSS/Atom feed")
    return listing
