"""Who may use the chat UI at ``/`` and the Gradio routes behind it.

Nobody because of where they connect from: a browser session (the login link that
``hoidap serve`` prints, or a ``HOIDAP_UI_AUTH`` staff login at ``/login``) or an admin
API key opens them; everyone else is sent to ``/login`` (pages) or gets 401 (calls).
The Gradio calls also pass the per-IP limit, the body-size cap (``middleware``) and the
history limits (``assistant.web.ui``). No UI component takes files, so uploads are refused.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.web.api.client_address import header_values
from assistant.web.api.config import ApiConfig
from assistant.web.api.errors import error_body, rate_limited
from assistant.web.api.keys import KeyStore
from assistant.web.api.middleware import costly, send_json
from assistant.web.api.ratelimit import RateLimiter, parse_rate
from assistant.web.api.sessions import SessionStore, session_of
from index.errors import ConfigError

# Routes of the API, widget and admin page (their own authorisation applies; the admin
# page is static, its data comes from /v1/admin/gaps with a key); everything else is the UI.
API_PREFIXES = ("/v1/",)
API_PATHS = frozenset(
    {"/healthz", "/readyz", "/openapi.json", "/widget.js", "/embed", "/admin", "/admin.js"}
) | {"/login", "/logout"}
UPLOAD_PREFIX = "/gradio_api/upload"
UPLOADS_DISABLED = error_body(
    "uploads_disabled",
    "Trợ lý không nhận tệp tải lên.",
    "Uploads are disabled: no part of the chat UI takes files.",
)
LOGIN_REQUIRED = error_body(
    "login_required",
    "Cần đăng nhập: mở liên kết đăng nhập do lệnh `hoidap serve` in ra, đăng nhập tại /login "
    "bằng tài khoản nhân viên (HOIDAP_UI_AUTH), hoặc gửi khóa API quản trị.",
    "Login required: open the login link `hoidap serve` printed, log in at /login with a staff "
    "account (HOIDAP_UI_AUTH), or send an admin API key.",
)


def parse_ui_auth(text: str) -> list[tuple[str, str]]:
    """``"ana:secret1,binh:secret2"`` -> [("ana", "secret1"), ("binh", "secret2")]."""
    pairs = []
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        user, sep, password = item.partition(":")
        if not sep or not user.strip() or len(password) < 8:
            raise ConfigError(
                "HOIDAP_UI_AUTH must be 'user:password' pairs separated by commas, each "
                f"password at least 8 characters; got an entry for {user.strip()!r} that is not.",
                "HOIDAP_UI_AUTH phải là các cặp 'tên:mật khẩu' cách nhau bằng dấu phẩy, mật khẩu "
                "dài ít nhất 8 ký tự.",
            )
        pairs.append((user.strip(), password))
    return pairs


def is_ui_path(path: str) -> bool:
    return not (path.startswith(API_PREFIXES) or path in API_PATHS)


class UiAccessMiddleware:
    """The chat UI and every Gradio route: a session (login link or staff login) or an
    admin API key, whoever sends it; uploads off; ``/`` never framed by other sites."""

    def __init__(
        self,
        app: ASGIApp,
        config: ApiConfig,
        sessions: SessionStore,
        store: KeyStore,
        limiter: RateLimiter | None = None,
    ):
        self.app = app
        self.config = config
        self.sessions = sessions
        self.store = store
        self.limiter = limiter if limiter is not None else RateLimiter()  # (an empty one is falsy)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] not in ("http", "websocket") or not is_ui_path(path):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":  # none today; a future one gets the same door
            if self._admitted(scope)[0]:
                await self.app(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        if path.startswith(UPLOAD_PREFIX):
            await send_json(send, 403, UPLOADS_DISABLED)
            return
        admitted, key_rate = self._admitted(scope)
        if not admitted:
            await self._refuse(scope, send)
            return
        if key_rate and costly(scope):  # an admin key's own rate, as on /v1
            wait = self.limiter.hit("admin", key_rate[0], parse_rate(key_rate[1]))
            if wait:
                exc = rate_limited(wait, "per-key")
                await send_json(send, 429, exc.to_json(), {"Retry-After": str(wait)})
                return
        await self.app(scope, receive, _with_frame_headers(send))

    def _admitted(self, scope: Scope) -> tuple[bool, tuple[str, str] | None]:
        """(admitted, (key id, rate) when an admin key with a rate let it in)."""
        if session_of(scope, self.sessions, self.config.proxy_hops) is not None:
            return True, None
        auth = header_values(scope, "authorization")
        scheme, _, token = (auth[-1] if auth else "").strip().partition(" ")
        admin = self.store.verify_admin(token.strip()) if scheme.lower() == "bearer" else None
        if admin is None:
            return False, None
        return True, ((admin.key_id, admin.rate) if admin.rate else None)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        accept = ",".join(header_values(scope, "accept"))
        if scope.get("method") == "GET" and "text/html" in accept:
            raw = [(b"location", b"/login"), (b"cache-control", b"no-store")]
            await send({"type": "http.response.start", "status": 303, "headers": raw})
            await send({"type": "http.response.body", "body": b""})
            return
        await send_json(send, 401, LOGIN_REQUIRED)


def _with_frame_headers(send: Send) -> Send:
    """Add ``frame-ancestors 'self'`` (and the older X-Frame-Options) to UI responses."""

    async def framed_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            names = {k.lower() for k, _ in headers}
            if b"content-security-policy" not in names:
                headers.append((b"content-security-policy", b"frame-ancestors 'self'"))
            if b"x-frame-options" not in names:
                headers.append((b"x-frame-options", b"SAMEORIGIN"))
            message = {**message, "headers": headers}
        await send(message)

    return framed_send
