"""Credentials for in-process and loopback test clients: no test is let in for being local.

``logged_in`` opens the login link ``hoidap serve`` would print, so the client holds the
operator's session cookie, as a browser on the server's machine would.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

LOCAL_BASE = "http://localhost"  # a Host the app serves by default (HOIDAP_ALLOWED_HOSTS)


def log_in(client, app=None) -> None:
    """Exchange a fresh login-link token for the session cookie (TestClient or httpx)."""
    app = app or client.app
    token = app.state.hoidap.login_link.issue()
    r = client.get("/login", params={"token": token})
    assert r.status_code == 200 and "hoidap_session" in r.headers.get("set-cookie", ""), r.text


def logged_in(app, peer: tuple[str, int] = ("127.0.0.1", 50000)) -> TestClient:
    client = TestClient(app, base_url=LOCAL_BASE, client=peer)
    log_in(client)
    return client
