"""Who is calling, and may they: API keys, widget keys + Origin, the login link, rate limits.

Order for every ``/v1/*`` request:

1. Per-client-IP token bucket (before anything else, so guessing keys is throttled too).
2. ``Authorization: Bearer <API key>`` → an API (admin) client; per-key bucket only if
   the key was created with ``--rate``.
3. ``X-Hoidap-Key`` header or ``key`` body field → a public widget key: the browser's
   ``Origin`` must be on the key's allowlist (or be this server's own origin, which is
   how the ``/embed`` iframe page calls the API); only :data:`WIDGET_PATHS`; per-key bucket.
4. The operator's browser session (the login link ``hoidap serve`` prints), on
   requests from this server's own pages only (``assistant.web.api.sessions``).
5. Otherwise 401. Where a request comes from (loopback or not) grants nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from starlette.requests import Request

from assistant.web.api.client_address import client_address, own_origin
from assistant.web.api.config import ApiConfig
from assistant.web.api.errors import ApiError, rate_limited
from assistant.web.api.keys import WIDGET_PREFIX, KeyStore
from assistant.web.api.ratelimit import Rate, RateLimiter, parse_rate
from assistant.web.api.security import WIDGET_PATHS, normalize_origin
from assistant.web.api.sessions import OWNER, SessionStore, session_of


@dataclass(frozen=True)
class Principal:
    kind: str  # "admin" | "widget" | "owner" (the login link's session)
    key_id: str | None = None
    origin: str | None = None
    ip: str = ""

    @property
    def owner(self) -> str:
        """Whose share of the answer streams a request uses: its key, else its address."""
        return f"{self.kind}:{self.key_id}" if self.key_id else f"ip:{self.ip}"


@lru_cache(maxsize=256)
def _rate(text: str) -> Rate:
    return parse_rate(text)


def _err(status: int, code: str, en: str, vi: str) -> ApiError:
    return ApiError(status, code, en, vi)


class Authorizer:
    def __init__(
        self,
        store: KeyStore,
        limiter: RateLimiter,
        config: ApiConfig,
        sessions: SessionStore | None = None,
    ):
        self.store = store
        self.limiter = limiter
        self.config = config
        self.sessions = sessions or SessionStore()

    def self_origin(self, request: Request) -> str | None:
        """This server's origin as the browser sees it (used by the /embed page)."""
        return own_origin(request.scope, self.config.proxy_hops)

    def client(self, request: Request) -> str:
        return client_address(request.scope, self.config.proxy_hops, self.config.proxy_header)

    def _limit(self, kind: str, ident: str, rate: Rate, what: str, cost: float = 1.0) -> None:
        wait = self.limiter.hit(kind, ident, rate, cost)
        if wait:
            raise rate_limited(wait, what)

    def owner_session(self, request: Request) -> bool:
        """The operator's login-link session, sent from this server's own pages."""
        session = session_of(request.scope, self.sessions, self.config.proxy_hops)
        return session is not None and session.kind == OWNER

    def authorize(
        self, request: Request, endpoint: str, body_key: str | None = None, cost: float = 1.0
    ) -> Principal:
        """Who is asking, with the limits charged: ``cost`` units (a long question costs up
        to 3) to the caller's key, and the units beyond the first to its IP."""
        ip = self.client(request)
        # One per-IP unit was taken on arrival (IpLimitMiddleware), before body validation.
        if cost > 1.0:
            self._limit("ip", ip, _rate(self.config.ip_rate), "per-IP", cost - 1.0)
        auth = request.headers.get("authorization")
        if auth:
            return self._api_key(request, auth, ip, cost)
        widget_key = request.headers.get("x-hoidap-key") or body_key
        if widget_key:
            return self._widget(request, widget_key, endpoint, ip, cost)
        if self.owner_session(request):
            return Principal(OWNER, ip=ip)
        raise _err(
            401,
            "auth_required",
            "An API key is required: send 'Authorization: Bearer <API key>' (create one with "
            "`hoidap keys create-admin`); browsers use the widget with its public key.",
            "Cần khóa truy cập: gửi 'Authorization: Bearer <khóa API>' (tạo bằng "
            "`hoidap keys create-admin`); trình duyệt dùng widget với khóa công khai.",
        )

    def _api_key(self, request: Request, auth: str, ip: str, cost: float) -> Principal:
        scheme, _, token = auth.strip().partition(" ")
        token = token.strip()
        admin = self.store.verify_admin(token) if scheme.lower() == "bearer" else None
        if admin is not None:
            if admin.rate:
                self._limit("admin", admin.key_id, _rate(admin.rate), "per-key", cost)
            return Principal("admin", admin.key_id, ip=ip)
        if token.startswith(WIDGET_PREFIX):
            raise _err(
                401,
                "widget_key_as_bearer",
                "That is a public widget key; it only works in the X-Hoidap-Key header from an "
                "allowed browser origin. Servers need an API key (`hoidap keys create-admin`).",
                "Đây là khóa công khai của widget, chỉ dùng trong tiêu đề X-Hoidap-Key từ trang web "
                "được phép. Máy chủ cần khóa API (`hoidap keys create-admin`).",
            )
        raise _err(
            401,
            "invalid_api_key",
            "The API key is invalid or revoked; check it, or create one with `hoidap keys create-admin`.",
            "Khóa API không hợp lệ hoặc đã bị thu hồi; hãy kiểm tra lại hoặc tạo khóa mới bằng "
            "`hoidap keys create-admin`.",
        )

    def _widget(self, request: Request, key: str, endpoint: str, ip: str, cost: float) -> Principal:
        record = self.store.widget_key(key)
        if record is None:
            raise _err(
                401,
                "invalid_key",
                "Unknown widget key; check the data-key attribute of the script tag.",
                "Khóa widget không hợp lệ; hãy kiểm tra thuộc tính data-key của thẻ script.",
            )
        if not record.active:
            raise _err(
                403,
                "key_revoked",
                "This widget key was revoked; the site owner needs a new one (`hoidap keys create`).",
                "Khóa widget này đã bị thu hồi; chủ trang web cần tạo khóa mới (`hoidap keys create`).",
            )
        if endpoint not in WIDGET_PATHS:
            raise _err(
                403,
                "endpoint_not_allowed",
                f"Widget keys may only call {', '.join(sorted(WIDGET_PATHS))}; other endpoints need an API key.",
                f"Khóa widget chỉ dùng được cho {', '.join(sorted(WIDGET_PATHS))}; các API khác cần khóa API.",
            )
        raw_origin = request.headers.get("origin")
        if raw_origin is None and request.headers.get("sec-fetch-site") == "same-origin":
            raw_origin = self.self_origin(
                request
            )  # browsers omit Origin on same-origin GETs (/embed)
        if raw_origin is None:
            raise _err(
                403,
                "origin_required",
                "Widget keys only work from a browser on an allowed site (no Origin header); "
                "servers should use an API key.",
                "Khóa widget chỉ dùng được từ trình duyệt trên trang web được phép (thiếu Origin); "
                "máy chủ hãy dùng khóa API.",
            )
        origin = normalize_origin(raw_origin)
        if origin is None or (origin not in record.origins and origin != self.self_origin(request)):
            shown = (raw_origin or "")[:100]
            raise _err(
                403,
                "origin_not_allowed",
                f"The site {shown!r} is not allowed to use this widget key; the owner can allow it "
                "with `hoidap keys create --origin <origin>`.",
                f"Trang web {shown!r} không được phép dùng khóa widget này; chủ khóa có thể cho phép "
                "bằng `hoidap keys create --origin <origin>`.",
            )
        self._limit("key", record.key, _rate(record.rate), "per-key", cost)
        return Principal("widget", record.key, origin, ip)
