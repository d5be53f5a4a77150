"""``/login``: the start-up link's token, or a staff account, exchanged for a session.

* ``GET /login?token=…`` (the link ``hoidap serve`` prints) → owner session.
* ``POST /login`` (form ``username``, ``password``; ``HOIDAP_UI_AUTH`` accounts) → staff session.
* ``POST /logout`` ends the session.

Every attempt passes the login throttle (per address and per user name, growing delay)
and every failure is logged with the client address.
"""

from __future__ import annotations

import hmac
import html
import logging
from dataclasses import dataclass
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from assistant.web.api.client_address import client_address, forwarded_scheme
from assistant.web.api.config import ApiConfig
from assistant.web.api.login_throttle import LoginThrottle
from assistant.web.api.sessions import (
    COOKIE,
    OWNER,
    STAFF,
    LoginLink,
    SessionStore,
    cookie_value,
    from_own_pages,
)
from assistant.web.terminal import printable

log = logging.getLogger(__name__)

PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make the form post Origin: null
    "Cache-Control": "no-store",
}
STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem}"
    "input,button{display:block;width:100%;margin:.4rem 0 .8rem;padding:.5rem;font-size:1rem}"
    ".err{color:#b00020}"
)


@dataclass
class LoginDoor:
    """What the login routes need: the link, the sessions, staff accounts, the throttle."""

    link: LoginLink
    sessions: SessionStore
    staff: list[tuple[str, str]]
    throttle: LoginThrottle
    config: ApiConfig

    def check_staff(self, user: str, password: str) -> bool:
        """Constant-time comparison against every account (no early exit on the name)."""
        ok = False
        for name, secret in self.staff:
            same_name = hmac.compare_digest(name.encode(), user.encode())
            same_secret = hmac.compare_digest(secret.encode(), password.encode())
            ok |= same_name and same_secret
        return ok


def page(body: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    doc = (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Đăng nhập · hoidap</title><style>{STYLE}</style></head><body>{body}</body></html>"
    )
    return HTMLResponse(doc, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})


def login_form(door: LoginDoor, error: str = "", status: int = 200, retry: int = 0) -> HTMLResponse:
    notice = f'<p class="err">{html.escape(error)}</p>' if error else ""
    link_hint = (
        "<p>Trên máy chạy máy chủ, hãy mở liên kết đăng nhập mà lệnh <code>hoidap serve</code> "
        "in ra khi khởi động. Mỗi liên kết dùng được một lần; liên kết mới luôn nằm trong tệp "
        "<code>login-token</code> của thư mục dữ liệu (<code>cat $HOIDAP_HOME/login-token</code>)."
        "</p>"
    )
    form = (
        '<form method="post" action="/login">'
        '<label>Tên đăng nhập<input name="username" autocomplete="username" required></label>'
        '<label>Mật khẩu<input name="password" type="password" '
        'autocomplete="current-password" required></label>'
        "<button>Đăng nhập</button></form>"
        if door.staff
        else ""
    )
    headers = {"Retry-After": str(retry)} if retry else None
    return page(f"<h1>Đăng nhập</h1>{notice}{form}{link_hint}", status, headers)


def signed_in(door: LoginDoor, request: Request, kind: str, user: str) -> HTMLResponse:
    """Set the cookie, then go to the chat from our own page (a same-origin navigation,
    so the SameSite=Strict cookie is sent with it)."""
    sid = door.sessions.create(kind, user)
    secure = forwarded_scheme(request.scope, door.config.proxy_hops) == "https"
    body = (
        '<meta http-equiv="refresh" content="0;url=/">'
        '<p>Đã đăng nhập. <a href="/">Mở giao diện trò chuyện</a></p>'
    )
    return page(body, headers={"Set-Cookie": door.sessions.cookie(sid, secure)})


def build_login_router(door: LoginDoor) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/login")
    async def login_page(request: Request, token: str = "") -> HTMLResponse:
        if not token:
            return login_form(door)
        ip = client_address(request.scope, door.config.proxy_hops, door.config.proxy_header)
        wait = door.throttle.wait(ip)
        if wait:
            log.warning("login link: attempt from %s throttled (%d s)", ip, wait)
            return login_form(door, _too_many(wait), 429, wait)
        if not door.link.redeem(token):
            door.throttle.failed(ip)
            log.warning("login link: wrong or expired token from %s", ip)
            return login_form(
                door,
                "Liên kết đăng nhập không đúng hoặc đã được dùng (mỗi liên kết dùng một lần).",
                403,
            )
        door.throttle.succeeded(ip)
        log.info("login link used from %s", ip)
        return signed_in(door, request, OWNER, "owner")

    @router.post("/login")
    async def login_submit(request: Request) -> HTMLResponse:
        if not from_own_pages(request.scope, door.config.proxy_hops):  # login CSRF
            return login_form(door, "Hãy đăng nhập từ trang /login của trợ lý.", 403)
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        user = (form.get("username") or [""])[0].strip()
        password = (form.get("password") or [""])[0]
        ip = client_address(request.scope, door.config.proxy_hops, door.config.proxy_header)
        wait = door.throttle.wait(ip, user)
        if wait:
            log.warning("staff login %r from %s throttled (%d s)", printable(user), ip, wait)
            return login_form(door, _too_many(wait), 429, wait)
        if not door.staff or not door.check_staff(user, password):
            delay = door.throttle.failed(ip, user)
            log.warning(
                "staff login %r from %s failed (next delay %d s)", printable(user), ip, delay
            )
            return login_form(door, "Sai tên đăng nhập hoặc mật khẩu.", 401)
        door.throttle.succeeded(ip, user)
        log.info("staff login %r from %s", printable(user), ip)
        return signed_in(door, request, STAFF, user)

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        door.sessions.end(cookie_value(request.scope))
        response = login_form(door, "Đã đăng xuất.")
        response.headers["Set-Cookie"] = f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
        return response

    return router


def _too_many(wait: int) -> str:
    return f"Đăng nhập sai quá nhiều lần; hãy thử lại sau {wait} giây."
