"""Browser sessions: the login link ``hoidap serve`` prints, and staff logins.

Nothing is granted for where a request comes from. The person who started the server
proves it by opening the link printed at start-up: its token is random, stored in the
data directory readable by its owner only (0600), and works once: opening it replaces
it, so a link copied from a proxy's access log or a shell history is already dead. The
current link is always in that file (``cat $HOIDAP_HOME/login-token``). Opening it (or
logging in with a ``HOIDAP_UI_AUTH`` account) gives an HttpOnly, SameSite=Strict session
cookie; the session lives in this process only.

A session cookie counts only on requests the browser marks as coming from this server's
own pages (no foreign ``Origin``, ``Sec-Fetch-Site`` absent, ``none`` or ``same-origin``):
another site on the same machine (``http://localhost:8080``) shares SameSite's "site" and
would otherwise ride on it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from starlette.types import Scope

from assistant.web.api.client_address import header_values, own_origin
from assistant.web.api.security import normalize_origin

COOKIE = "hoidap_session"
TOKEN_FILE = "login-token"
SESSION_SECONDS = 12 * 3600
OWNER = "owner"  # opened the login link: the server's operator, as an admin key
STAFF = "staff"  # a HOIDAP_UI_AUTH account: the chat UI only


@dataclass(frozen=True)
class Session:
    kind: str
    user: str
    expires: float


class LoginLink:
    """The one-time login token, kept in ``<data dir>/login-token`` (mode 0600) with the
    link to open on the line after it."""

    def __init__(self, home: Path, base_url: str = ""):
        self.path = Path(home) / TOKEN_FILE
        self.base_url = base_url  # e.g. http://127.0.0.1:7860, set by `hoidap serve`
        self._lock = threading.Lock()

    def url(self, token: str) -> str:
        return f"{self.base_url}/login?token={token}"

    def issue(self) -> str:
        """A fresh token (the previous link stops working)."""
        token = secrets.token_urlsafe(32)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{TOKEN_FILE}.{os.getpid()}.{threading.get_ident()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(token + "\n" + (self.url(token) + "\n" if self.base_url else ""))
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        return token

    def valid(self, token: str) -> bool:
        """True for the current token; a deleted file turns every link off."""
        try:
            stored = self.path.read_text(encoding="ascii").split("\n", 1)[0].strip()
        except (OSError, UnicodeError):
            return False
        return bool(stored) and hmac.compare_digest(stored.encode(), (token or "").encode())

    def redeem(self, token: str) -> bool:
        """Use the token once: when it is the current one, it is replaced by a new one."""
        with self._lock:
            if not self.valid(token):
                return False
            self.issue()
            return True


class SessionStore:
    """In-memory sessions, bounded; the cookie holds a random id, the store its hash."""

    def __init__(self, seconds: float = SESSION_SECONDS, max_sessions: int = 10_000):
        self.seconds = seconds
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._max = max_sessions
        self._lock = threading.Lock()

    @staticmethod
    def _key(sid: str) -> str:
        return hashlib.sha256(sid.encode("utf-8", "replace")).hexdigest()

    def create(self, kind: str, user: str) -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[self._key(sid)] = Session(kind, user, time.time() + self.seconds)
            while len(self._sessions) > self._max:
                self._sessions.popitem(last=False)
        return sid

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        with self._lock:
            session = self._sessions.get(self._key(sid))
            if session is not None and session.expires < time.time():
                del self._sessions[self._key(sid)]
                return None
        return session

    def end(self, sid: str | None) -> None:
        with self._lock:
            self._sessions.pop(self._key(sid or ""), None)

    def cookie(self, sid: str, secure: bool) -> str:
        """The Set-Cookie value for a new session."""
        flags = f"Path=/; Max-Age={int(self.seconds)}; HttpOnly; SameSite=Strict"
        return f"{COOKIE}={sid}; {flags}" + ("; Secure" if secure else "")


def cookie_value(scope: Scope) -> str | None:
    """Our session cookie from the request, if any."""
    for header in header_values(scope, "cookie"):
        for part in header.split(";"):
            name, sep, value = part.strip().partition("=")
            if sep and name == COOKIE:
                return value.strip()
    return None


def from_own_pages(scope: Scope, proxy_hops: int) -> bool:
    """The browser says this request comes from our own pages (or was typed/opened)."""
    site = header_values(scope, "sec-fetch-site")
    if site and site[-1].strip().lower() not in ("none", "same-origin"):
        return False
    origin = header_values(scope, "origin")
    return not origin or normalize_origin(origin[-1]) == own_origin(scope, proxy_hops)


def session_of(scope: Scope, store: SessionStore, proxy_hops: int) -> Session | None:
    """The request's session when it carries a valid cookie from our own pages."""
    session = store.get(cookie_value(scope))
    if session is None or not from_own_pages(scope, proxy_hops):
        return None
    return session
