"""Web sources: a page, a sitemap.xml or an RSS/Atom feed, fetched politely.

Politeness: robots.txt is obeyed (RFC 9309: a missing file allows all, an unreachable
one disallows all), requests to one host are spaced by ``web_delay`` seconds (or the
site's Crawl-delay, if longer), the user agent names hoidap, every response is capped
in size and time, and a run fetches at most ``web_max_pages`` pages. A page that sent
an ETag or Last-Modified is asked for again conditionally, so a scheduled re-run gets
``304 Not Modified`` for what did not change. Each article is stored under its canonical
address; a feed's publication date stands in for a page that states none.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpx

from index.loader import MIB, FileError
from index.private import private_dir
from index.sources.base import Document
from index.sources.docx import read_docx
from index.sources.feeds import Entry, Listing, NotAListing, read_listing
from index.sources.html import page_document
from index.sources.pdf import read_pdf

USER_AGENT = "hoidap/0.1 (indexing bot of a Vietnamese question-answering assistant)"
MAX_REDIRECTS = 5
SITEMAP_DEPTH = 2  # a sitemap index may point to sitemaps, not further


def is_web_address(text: str) -> bool:
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


@dataclass(frozen=True)
class WebOptions:
    delay: float = 1.0
    timeout: float = 20.0
    max_pages: int = 200
    max_bytes: int = 20 * MIB


@dataclass(frozen=True)
class NotModified:
    """The server said the page is as last fetched: its article keeps its chunks."""

    source: str
    url: str


@dataclass
class WebResult:
    """What the web step found: articles fetched, articles unchanged, and what failed."""

    documents: list[Document] = field(default_factory=list)
    not_modified: list[NotModified] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    listing_failed: bool = False  # a feed or sitemap could not be read: do not prune
    kept_sources: set[str] = field(default_factory=set)  # pages that failed: keep their chunks
    pages_read: int = 0
    validators: dict[str, dict[str, str]] = field(default_factory=dict)  # url -> etag etc.


class _Fetched:
    def __init__(self, url: str, status: int, headers: httpx.Headers, data: bytes):
        self.url, self.status, self.headers, self.data = url, status, headers, data

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


class PoliteClient:
    """HTTP GETs that obey robots.txt, space requests per host and cap size and time."""

    def __init__(self, options: WebOptions, client: httpx.Client | None = None):
        self.options = options
        self.client = client or httpx.Client(
            headers={"User-Agent": USER_AGENT, "Accept-Language": "vi,en;q=0.5"},
            timeout=options.timeout,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
        )
        self._robots: dict[str, RobotFileParser | FileError] = {}
        self._last: dict[str, float] = {}

    def close(self) -> None:
        self.client.close()

    def _wait_turn(self, host: str) -> None:
        robots = self._robots.get(host)
        stated = robots.crawl_delay(USER_AGENT) if isinstance(robots, RobotFileParser) else None
        delay = max(self.options.delay, float(stated or 0))
        wait = self._last.get(host, -1e9) + delay - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last[host] = time.monotonic()

    def _robots_for(self, url: str) -> RobotFileParser | FileError:
        """The site's rules, or why they could not be read (then nothing is fetched)."""
        parts = urlsplit(url)
        host = f"{parts.scheme}://{parts.netloc}"
        if host not in self._robots:
            self._robots[host] = RobotFileParser()  # placeholder while fetching
            robots_url = urljoin(host, "/robots.txt")
            fetched = self._fetch(robots_url, {})
            if isinstance(fetched, FileError):
                self._robots[host] = fetched
            elif fetched.status >= 500:
                self._robots[host] = FileError(
                    url,
                    f"the site's robots.txt answered HTTP {fetched.status}; "
                    "crawlers must wait (RFC 9309): try again later",
                    "robots.txt của trang đang lỗi; hãy thử lại sau",
                )
            else:
                parser = RobotFileParser()
                text = fetched.data.decode("utf-8", "replace") if fetched.status < 400 else ""
                parser.parse(text.splitlines())
                self._robots[host] = parser
        return self._robots[host]

    def get(self, url: str, headers: dict[str, str] | None = None) -> _Fetched | FileError:
        """The response (any status), or why there is none, naming the address."""
        robots = self._robots_for(url)
        if isinstance(robots, FileError):
            return FileError(url, robots.message, robots.message_vi)
        if not robots.can_fetch(USER_AGENT, url):
            return FileError(
                url,
                "robots.txt of the site does not allow hoidap to fetch this address",
                "robots.txt của trang không cho phép hoidap tải địa chỉ này",
            )
        return self._fetch(url, headers or {})

    def _get(self, url: str, headers: dict[str, str]) -> _Fetched:
        self._wait_turn(urlsplit(url).netloc)
        with self.client.stream("GET", url, headers=headers) as response:
            declared = int(response.headers.get("content-length") or 0)
            if declared > self.options.max_bytes:
                raise _TooLarge(declared)
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.options.max_bytes:
                    raise _TooLarge(size)
                chunks.append(chunk)
            return _Fetched(
                str(response.url), response.status_code, response.headers, b"".join(chunks)
            )

    def _fetch(self, url: str, headers: dict[str, str]) -> _Fetched | FileError:
        try:
            return self._get(url, headers)
        except httpx.TooManyRedirects:
            return FileError(
                url,
                f"redirect loop (more than {MAX_REDIRECTS} redirects); check the address",
                "địa chỉ chuyển hướng vòng lặp; hãy kiểm tra lại địa chỉ",
            )
        except httpx.TimeoutException:
            return FileError(
                url,
                f"no answer within {self.options.timeout:g} s (HOIDAP_WEB_TIMEOUT)",
                "máy chủ không trả lời kịp; hãy thử lại sau",
            )
        except httpx.HTTPError as exc:
            return FileError(
                url,
                f"cannot reach the address ({type(exc).__name__}: {exc})",
                "không kết nối được tới địa chỉ này; hãy kiểm tra mạng hoặc địa chỉ",
            )
        except _TooLarge:
            return FileError(
                url,
                f"response is over {self.options.max_bytes / MIB:.3g} MB (HOIDAP_MAX_FILE_MB)",
                "nội dung tải về quá lớn",
            )


class _TooLarge(Exception):
    pass


def _status_error(fetched: _Fetched) -> FileError | None:
    if fetched.status < 400:
        return None
    return FileError(
        fetched.url,
        f"the server answered HTTP {fetched.status}; check the address",
        f"máy chủ trả lời lỗi HTTP {fetched.status}; hãy kiểm tra lại địa chỉ",
    )


def _validators(fetched: _Fetched, source: str, listing: str) -> dict[str, str]:
    """What a re-run needs of a page: its validators, its article and the address given on
    the command line that led to it (``--prune`` removes only what that address listed)."""
    found = {
        "etag": fetched.headers.get("etag"),
        "last_modified": fetched.headers.get("last-modified"),
    }
    return {"source": source, "listing": listing, **{k: v for k, v in found.items() if v}}


def _conditional(known: dict[str, str] | None) -> dict[str, str]:
    """Headers asking for the page only if it changed since the last fetch."""
    if not known:
        return {}
    headers = {}
    if known.get("etag"):
        headers["If-None-Match"] = known["etag"]
    if known.get("last_modified"):
        headers["If-Modified-Since"] = known["last_modified"]
    return headers


def _document(fetched: _Fetched, address: str) -> Document | FileError:
    """The article in a fetched page, PDF or Word file."""
    path = urlsplit(fetched.url).path.lower()
    if fetched.content_type == "application/pdf" or path.endswith(".pdf"):
        return read_pdf(fetched.data, address, fetched.url)
    if "wordprocessingml" in fetched.content_type or path.endswith(".docx"):
        return read_docx(fetched.data, address, fetched.url)
    return page_document(fetched.data, None, address, url=fetched.url)


class Crawl:
    """One run's web step: listings expanded, pages fetched (conditionally), capped."""

    def __init__(
        self,
        client: PoliteClient,
        known: dict[str, dict[str, str]],
        on_page: Callable[[], None] | None = None,
    ):
        self.client, self.known, self.on_page = client, known, on_page
        self.result = WebResult()
        self._done: set[str] = set()
        self._listed_by = ""  # the command-line address being crawled

    def address(self, address: str) -> None:
        """A page, a sitemap or a feed given on the command line."""
        self._listed_by = address
        fetched = self.client.get(address, _conditional(self.known.get(address)))
        if isinstance(fetched, FileError) or fetched.status >= 400:
            self.result.listing_failed = True  # whatever it listed must not be pruned
            self._failed(address, fetched)
            return
        if fetched.status == 304:
            self._page(address, None, fetched)
            return
        try:
            listing = read_listing(fetched.url, fetched.content_type, fetched.data)
        except NotAListing as exc:
            self.result.listing_failed = True
            self.result.errors.append(
                FileError(
                    address,
                    f"not a readable RSS/Atom feed or sitemap: {exc}",
                    "không phải nguồn tin RSS/Atom hay sơ đồ trang (sitemap) đọc được",
                )
            )
            return
        if listing is None:
            self._page(address, None, fetched)
        else:
            self._listing(listing, depth=0)

    def _listing(self, listing: Listing, depth: int) -> None:
        if listing.kind != "sitemap index":
            for entry in listing.entries:
                self._entry(entry)
            return
        for entry in listing.entries:
            if depth >= SITEMAP_DEPTH or entry.url in self._done:
                continue
            self._done.add(entry.url)
            inner = self._inner_sitemap(entry.url)
            if inner is not None:
                self._listing(inner, depth + 1)

    def _inner_sitemap(self, url: str) -> Listing | None:
        """A sitemap a sitemap index lists, or None (reported; nothing is pruned then)."""
        fetched = self.client.get(url)
        if isinstance(fetched, FileError) or fetched.status >= 400:
            self.result.listing_failed = True
            self._failed(url, fetched)
            return None
        try:
            inner = read_listing(fetched.url, fetched.content_type, fetched.data)
        except NotAListing as exc:
            inner, why = None, str(exc)
        else:
            why = "a page, not a sitemap"
        if inner is None:
            self.result.listing_failed = True
            self.result.errors.append(
                FileError(
                    url,
                    f"listed by a sitemap index but not a readable sitemap ({why})",
                    "địa chỉ trong sơ đồ trang (sitemap index) không phải sơ đồ trang đọc được",
                )
            )
        return inner

    def _entry(self, entry: Entry) -> None:
        if entry.url in self._done:
            return
        self._done.add(entry.url)
        if self.result.pages_read >= self.client.options.max_pages:
            self.result.listing_failed = True
            self.result.errors.append(
                FileError(
                    entry.url,
                    f"not fetched: the run's page cap of {self.client.options.max_pages} is "
                    "reached (HOIDAP_WEB_MAX_PAGES); nothing is pruned this run",
                    "chưa tải: đã đạt giới hạn số trang của một lần chạy (HOIDAP_WEB_MAX_PAGES)",
                )
            )
            return
        fetched = self.client.get(entry.url, _conditional(self.known.get(entry.url)))
        if isinstance(fetched, FileError) or fetched.status >= 400:
            self._failed(entry.url, fetched)
        else:
            self._page(entry.url, entry, fetched)

    def _page(self, address: str, entry: Entry | None, fetched: _Fetched) -> None:
        self.result.pages_read += 1
        if self.on_page is not None:
            self.on_page()
        if fetched.status == 304 and self.known.get(address, {}).get("source"):
            source = self.known[address]["source"]
            self.result.not_modified.append(NotModified(source, address))
            self.result.validators[address] = {**self.known[address], "listing": self._listed_by}
            return
        doc = _document(fetched, address)
        if isinstance(doc, FileError):
            self._failed(address, doc)
            return
        if entry is not None and doc.date is None and entry.date:
            doc = replace(doc, date=entry.date)  # the feed states the day the page does not
        self.result.documents.append(doc)
        self.result.validators[address] = _validators(fetched, doc.source, self._listed_by)

    def _failed(self, address: str, fetched: _Fetched | FileError) -> None:
        """A page that could not be read keeps what is indexed of it (never pruned)."""
        error = fetched if isinstance(fetched, FileError) else _status_error(fetched)
        if error is not None:
            self.result.errors.append(error)
        self.result.kept_sources.add(self.known.get(address, {}).get("source", address))


def collect(
    addresses: list[str],
    options: WebOptions,
    known: dict[str, dict[str, str]] | None = None,
    client: httpx.Client | None = None,
    on_page: Callable[[], None] | None = None,
) -> WebResult:
    """Fetch the articles behind ``addresses`` (pages, sitemaps, feeds); ``on_page`` is
    called after each article page (a progress bar: polite fetching takes a while)."""
    polite = PoliteClient(options, client)
    crawl = Crawl(polite, known or {}, on_page)
    try:
        for address in addresses:
            crawl.address(address)
    finally:
        polite.close()
    return crawl.result


def load_validators(path: Path) -> dict[str, dict[str, str]]:
    """ETag/Last-Modified and article source of each page fetched before ({} if none)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        url: v
        for url, v in data.items()
        if isinstance(v, dict) and all(isinstance(x, str) for x in v.values())
    }


def save_validators(path: Path, validators: dict[str, dict[str, str]]) -> None:
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(validators, fh, ensure_ascii=False)
    os.replace(tmp, path)
