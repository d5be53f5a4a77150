"""A real web site on loopback for the web-source tests: pages, a feed, a sitemap, robots.txt.

Each route is a :class:`Page` (status, body, content type, extra headers, a delay). Pages
with an ``etag`` answer ``304 Not Modified`` to a matching ``If-None-Match``, pages with only
a ``last_modified`` to a matching ``If-Modified-Since``; every request is
recorded (path, status, headers) so tests can check what the indexer asked for and how
politely. Routes can be changed between runs (``site.pages[path] = ...``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Page:
    body: bytes = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering


@dataclass
class Request:
    path: str
    status: int
    headers: dict[str, str]
    at: float = 0.0  # time.monotonic() when it arrived


class Site:
    """``with Site() as site:`` serves ``site.pages`` on ``site.url``."""

    def __init__(self) -> None:
        self.pages: dict[str, Page] = {}
        self.requests: list[Request] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                page = site.pages.get(self.path.split("#")[0], Page(b"Not found", 404))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = page.status
                if page.etag and headers.get("if-none-match") == page.etag:
                    status = 304
                since = headers.get("if-modified-since")
                if page.last_modified and since == page.last_modified and not page.etag:
                    status = 304
                time.sleep(page.delay)
                site.requests.append(Request(self.path, status, headers, time.monotonic()))
                self.send_response(status)
                if page.etag:
                    self.send_header("ETag", page.etag)
                if page.last_modified:
                    self.send_header("Last-Modified", page.last_modified)
                for key, value in page.headers.items():
                    self.send_header(key, value)
                body = b"" if status == 304 else page.body
                self.send_header("Content-Type", page.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def statuses(self, path: str) -> list[int]:
        return [r.status for r in self.requests if r.path == path]

    def __enter__(self) -> Site:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
