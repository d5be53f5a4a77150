"""Pure ASGI middleware: path-traversal guard, last-resort 500, per-IP limit, CORS,
body-size limit.

Pure ASGI (not BaseHTTPMiddleware) so streamed answers pass through untouched and the
per-request cost stays small under load.
"""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import unquote

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.api.config import ApiConfig
from assistant.api.errors import INTERNAL_ERROR, error_body, rate_limited
from assistant.api.keys import KeyStore
from assistant.api.ratelimit import RateLimiter
from assistant.api.security import (
    WIDGET_PATHS,
    client_ip,
    cors_headers,
    forwarded_for,
    normalize_origin,
    preflight_headers,
)

log = logging.getLogger(__name__)

_DOT_SEGMENT = re.compile(r"(^|[/\\=])\.\.(?=[/\\]|$)")


async def send_json(
    send: Send, status: int, body: dict, headers: dict[str, str] | None = None
) -> None:
    payload = json.dumps(body, ensure_ascii=False).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


def suspicious_path(raw: str) -> bool:
    """A ``..`` segment or NUL, after up to three rounds of percent-decoding (``%252e%252e``)."""
    text = raw
    for _ in range(4):
        if "\x00" in text or _DOT_SEGMENT.search(text):
            return True
        decoded = unquote(text)
        if decoded == text:
            return False
        text = decoded
    return True  # still changing after three decodings: nobody legitimate does that


class GuardMiddleware:
    """Refuse ``..`` paths for every route (the API and the mounted Gradio app alike), and
    turn any unexpected exception into the JSON error shape instead of a traceback."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = (scope.get("raw_path") or scope.get("path", "").encode()).decode("latin-1")
        if suspicious_path(raw) or suspicious_path(scope.get("path", "")):
            await send_json(
                send,
                400,
                error_body(
                    "bad_path",
                    "Đường dẫn không hợp lệ (không được chứa '..').",
                    "Invalid path: '..' segments are not allowed.",
                ),
            )
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("Unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await send_json(send, 500, INTERNAL_ERROR)


# Paths where a request can cost work: the API, and the Gradio calls behind the chat UI
# (a question from the UI is as costly as one through /v1/ask).
LIMITED_PREFIXES = ("/v1/", "/gradio_api/call/", "/gradio_api/queue/join", "/gradio_api/run/")
LIMITED_PREFIXES += ("/gradio_api/upload",)


class IpLimitMiddleware:
    """Charge the per-IP token bucket for every request on a costly path, before anything
    else reads it: a request refused later (bad body 422, no key 401) still takes a token,
    so invalid requests cannot be sent for free."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, config: ApiConfig):
        self.app = app
        self.limiter = limiter
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(LIMITED_PREFIXES):
            await self.app(scope, receive, send)
            return
        ip = client_ip(scope.get("client"), forwarded_for(scope), self.config.proxy_hops)
        wait = self.limiter.hit("ip", ip, self.config.ip_limit)
        if wait:
            exc = rate_limited(wait, "per-IP")
            await send_json(send, 429, exc.to_json(), {"Retry-After": str(wait)})
            return
        await self.app(scope, receive, send)


class CorsMiddleware:
    """CORS for the whole app: answered only for the widget endpoints, and only to origins
    some active widget key allows.

    * Cross-origin preflights anywhere else, or from any other origin, get 403 without
      CORS headers, so the browser never sends the request. ``null`` never matches.
    * CORS headers the mounted Gradio app adds on its own are removed from cross-origin
      responses (it would otherwise answer e.g. any ``localhost`` page).
    """

    def __init__(self, app: ASGIApp, store: KeyStore):
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        raw_origin = headers.get("origin")
        if raw_origin is None:
            await self.app(scope, receive, send)
            return
        origin = normalize_origin(raw_origin)
        host = headers.get("host")
        own = normalize_origin(f"{scope.get('scheme', 'http')}://{host}") if host else None
        if origin is not None and origin == own:  # same-origin: CORS does not apply
            await self.app(scope, receive, send)
            return
        allowed = (
            origin is not None and scope["path"] in WIDGET_PATHS and self.store.origin_known(origin)
        )
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            if allowed:
                raw = [(k.encode(), v.encode()) for k, v in preflight_headers(origin).items()]
                await send({"type": "http.response.start", "status": 204, "headers": raw})
                await send({"type": "http.response.body", "body": b""})
            else:
                await send_json(
                    send,
                    403,
                    error_body(
                        "origin_not_allowed",
                        "Trang web này không được phép gọi trợ lý.",
                        "This origin is not allowed to call the assistant.",
                    ),
                )
            return
        extra = (
            [(k.encode(), v.encode()) for k, v in cors_headers(origin).items()] if allowed else []
        )

        async def cors_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if not k.lower().startswith(b"access-control-")
                ]
                message = {**message, "headers": kept + extra}
            await send(message)

        await self.app(scope, receive, cors_send)


class BodyTooLarge(StarletteHTTPException):
    """Raised while reading an oversized body; an HTTPException so FastAPI re-raises it as is."""

    def __init__(self, limit: int):
        super().__init__(
            413,
            detail=error_body(
                "body_too_large",
                f"Nội dung yêu cầu quá lớn (tối đa {limit} byte). Hãy rút gọn câu hỏi hoặc lịch sử hội thoại.",
                f"Request body too large (limit {limit} bytes); shorten the question or the history.",
            ),
        )


class BodyLimitMiddleware:
    """413 for ``/v1/*`` bodies over the limit, whether declared (Content-Length) or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for k, v in scope["headers"]:
            if k.lower() == b"content-length":
                try:
                    declared = int(v)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > limit:
                    exc = BodyTooLarge(limit) if declared > limit else None
                    body = (
                        exc.detail
                        if exc
                        else error_body(
                            "bad_content_length",
                            "Tiêu đề Content-Length không hợp lệ.",
                            "Invalid Content-Length header.",
                        )
                    )
                    await send_json(send, 413 if exc else 400, body)
                    return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counting_receive, send)
