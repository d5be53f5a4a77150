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

from assistant.web.api.client_address import client_address, header_values, own_origin
from assistant.web.api.config import ApiConfig
from assistant.web.api.errors import error_body, public_error, rate_limited
from assistant.web.api.keys import KeyStore
from assistant.web.api.ratelimit import RateLimiter
from assistant.web.api.security import (
    WIDGET_PATHS,
    cors_headers,
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
        except Exception as exc:  # logged under the request id the client is shown
            shown = public_error(exc)
            if not started:
                await send_json(send, 500, shown.to_json())


# Paths where a request can cost work: the API, the login door, and the Gradio calls
# behind the chat UI (a question from the UI is as costly as one through /v1/ask). Every
# POST under /gradio_api/ counts, whichever variant (queue, call, run, api) it uses.
LIMITED_PREFIXES = ("/v1/", "/gradio_api/call/", "/gradio_api/queue/join", "/gradio_api/run/")
LIMITED_PREFIXES += ("/gradio_api/upload", "/gradio_api/api/", "/login")


def costly(scope: Scope) -> bool:
    path = scope.get("path", "")
    return path.startswith(LIMITED_PREFIXES) or (
        scope.get("method") == "POST" and path.startswith("/gradio_api/")
    )


class IpLimitMiddleware:
    """Charge the per-IP token bucket for every request on a costly path, before anything
    else reads it: a request refused later (bad body 422, no key 401) still takes a token,
    so invalid requests cannot be sent for free."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, config: ApiConfig):
        self.app = app
        self.limiter = limiter
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not costly(scope):
            await self.app(scope, receive, send)
            return
        ip = client_address(scope, self.config.proxy_hops, self.config.proxy_header)
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

    def __init__(self, app: ASGIApp, store: KeyStore, proxy_hops: int = 0):
        self.app = app
        self.store = store
        self.proxy_hops = proxy_hops

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
        own = own_origin(scope, self.proxy_hops)
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
    """413 for bodies over the limit on every route, whether declared (Content-Length) or
    streamed, before the body is read whole: ``max_bytes`` for the API and the login form,
    ``ui_max_bytes`` for the Gradio calls (the conversation travels with each question)."""

    def __init__(self, app: ASGIApp, max_bytes: int, ui_max_bytes: int | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.ui_max_bytes = ui_max_bytes if ui_max_bytes is not None else max_bytes

    def limit_for(self, path: str) -> int:
        return self.max_bytes if path.startswith(("/v1/", "/login")) else self.ui_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = header_values(scope, "content-length")
        if declared:
            try:
                size = int(declared[-1])
            except ValueError:
                size = -1
            if size < 0:
                await send_json(send, 400, BAD_CONTENT_LENGTH)
                return
            if size > limit:
                await send_json(send, 413, BodyTooLarge(limit).detail)
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

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge as exc:  # raised from a route that does not turn it into a reply
            if not started:
                await send_json(send, 413, exc.detail)


BAD_CONTENT_LENGTH = error_body(
    "bad_content_length", "Tiêu đề Content-Length không hợp lệ.", "Invalid Content-Length header."
)


class HostCheckMiddleware:
    """Serve only the ``Host`` names configured (``HOIDAP_ALLOWED_HOSTS``; loopback names by
    default): a DNS-rebinding page (``attacker.test`` resolving to 127.0.0.1) is refused.
    Health probes (``/healthz``, ``/readyz``) answer any Host: they carry no user data."""

    OPEN_PATHS = frozenset({"/healthz", "/readyz"})

    def __init__(self, app: ASGIApp, config: ApiConfig):
        self.app = app
        self.hosts = config.host_list

    def allowed(self, host: str) -> bool:
        if "*" in self.hosts:
            return True
        name = host.strip().lower()
        name = name[1:].split("]", 1)[0] if name.startswith("[") else name.rsplit(":", 1)[0]
        return name.rstrip(".") in self.hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("path") in self.OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        host = header_values(scope, "host")
        if scope["type"] == "http" and (not host or not self.allowed(host[0])):
            shown = (host[0] if host else "")[:100]
            await send_json(
                send,
                421,
                error_body(
                    "host_not_allowed",
                    f"Tên máy {shown!r} không được phép. Quản trị viên cần thêm tên miền của trang "
                    "vào HOIDAP_ALLOWED_HOSTS (danh sách cách nhau bằng dấu phẩy).",
                    f"Host {shown!r} is not served; add the site's name to HOIDAP_ALLOWED_HOSTS "
                    "(comma-separated).",
                ),
            )
            return
        await self.app(scope, receive, send)
