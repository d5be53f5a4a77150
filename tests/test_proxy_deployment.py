"""Behind a reverse proxy: a real uvicorn on loopback, a real forwarding proxy in front.

The proxy forwards like a bare nginx ``proxy_pass`` (no X-Forwarded-For), so every
outside client reaches the app from loopback. Nothing may be granted for that: the UI,
every Gradio route, the API and the admin data need a credential, before and after an
admin key exists; the login link's session cookie is the local convenience.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import time
from collections.abc import Iterator

import httpx
import pytest
from support.forward_proxy import ForwardProxy

from assistant.answering.assistant import Assistant
from assistant.web.api.client_address import client_address
from assistant.web.api.config import ApiConfig
from assistant.web.api.keys import KeyStore
from assistant.web.api.login_throttle import LoginThrottle
from assistant.web.api.thread_server import ServerThread
from assistant.web.server import create_app
from index.config import Settings

pytestmark = [pytest.mark.server, pytest.mark.slow]

QUESTION = {"question": "Đề án 06 là gì?"}
RESPOND = {"data": ["Đề án 06 là gì?", [], {}]}
STAFF = ("lan", "mat-khau-rat-dai")
GRADIO_CALLS = [
    "/gradio_api/call/respond",
    "/gradio_api/api/respond",
    "/gradio_api/run/respond",
    "/gradio_api/call/v2/respond",
    "/gradio_api/queue/join",
]


def _settings(tmp_path, **env) -> Settings:
    base = {"HOIDAP_HOME": str(tmp_path / "home"), "HOIDAP_EMBEDDER": "fake"}
    return Settings.load(env={**base, **env})


def _serve(settings: Settings, **config) -> ServerThread:
    config.setdefault("ip_rate", "1000/min")
    app = create_app(settings, Assistant(settings), api_config=ApiConfig(**config))
    return ServerThread(app)


@pytest.fixture
def served(tmp_path) -> Iterator[ServerThread]:
    with _serve(_settings(tmp_path)) as srv:
        yield srv


def _closed(base: str, headers: dict | None = None) -> None:
    """No UI, Gradio, question or admin data without a credential."""
    with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
        for path in ("/", "/config", "/gradio_api/info", "/theme.css"):
            r = c.get(path)
            assert r.status_code == 401, (path, r.status_code)
            assert r.json()["error"]["code"] == "login_required"
        assert c.get("/", headers={"Accept": "text/html"}).headers["location"] == "/login"
        for path in GRADIO_CALLS:
            assert c.post(path, json=RESPOND).status_code == 401, path
        assert c.post("/v1/ask", json=QUESTION).status_code == 401
        assert c.post("/v1/chat/completions", json={"messages": []}).status_code in (401, 422)
        assert c.get("/v1/admin/gaps").status_code == 401
        assert c.get("/healthz").status_code == 200


def test_through_a_bare_proxy_nothing_answers_without_a_credential(served) -> None:
    with ForwardProxy(served.url) as proxy:
        _closed(proxy.url)
        _closed(served.url)  # on the machine itself: loopback is no credential either
        KeyStore.for_home(served.app.state.hoidap.settings.home).create_admin_key(name="ops")
        _closed(proxy.url)
        _closed(served.url)


def test_an_admin_key_opens_the_gradio_routes_too(served) -> None:
    _, secret = KeyStore.for_home(served.app.state.hoidap.settings.home).create_admin_key()
    auth = {"Authorization": f"Bearer {secret}"}
    with ForwardProxy(served.url) as proxy:
        assert (
            httpx.get(f"{proxy.url}/gradio_api/info", headers=auth, timeout=30).status_code == 200
        )
        bad = {"Authorization": "Bearer hdak_wrong"}
        assert httpx.get(f"{proxy.url}/gradio_api/info", headers=bad, timeout=30).status_code == 401


def test_an_admin_key_rate_holds_on_the_gradio_routes_as_on_v1(served) -> None:
    keys = KeyStore.for_home(served.app.state.hoidap.settings.home)
    _, secret = keys.create_admin_key(name="script", rate="3/min")
    auth = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=served.url, headers=auth, timeout=30) as c:
        codes = [c.post(path, json=RESPOND).status_code for path in GRADIO_CALLS[:3]]
        assert codes[0] == 200 and 429 not in codes[:3]
        assert c.post("/v1/ask", json=QUESTION).status_code == 429  # one bucket per key
        assert c.get("/gradio_api/info").status_code == 200  # reading the page costs nothing


def test_the_login_link_gives_a_strict_session_cookie(served) -> None:
    link = served.app.state.hoidap.login_link
    token = link.issue()
    assert stat.S_IMODE(os.stat(link.path).st_mode) == 0o600
    with ForwardProxy(served.url) as proxy, httpx.Client(base_url=proxy.url, timeout=30) as c:
        assert c.get("/login", params={"token": token + "x"}).status_code == 403
        r = c.get("/login", params={"token": token})
        assert c.get("/login", params={"token": token}).status_code == 403  # one time only
        following = link.path.read_text().split()[0]  # the next link waits in the file
        assert following != token and stat.S_IMODE(os.stat(link.path).st_mode) == 0o600
        assert r.status_code == 200 and 'url=/"' in r.text
        cookie = r.headers["set-cookie"]
        for flag in ("HttpOnly", "SameSite=Strict", "Path=/"):
            assert flag in cookie
        page = c.get("/", headers={"Sec-Fetch-Site": "same-origin"})
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert "frame-ancestors 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "SAMEORIGIN"
        assert c.get("/gradio_api/info").status_code == 200
        assert c.get("/v1/admin/gaps").json() == {"groups": []}
        call = c.post("/gradio_api/call/respond", json=RESPOND)
        assert call.status_code == 200 and "event_id" in call.json()
        # Another site on the same machine shares SameSite's "site": its requests carry
        # the cookie, and are still refused.
        other = {"Origin": "http://localhost:8080", "Sec-Fetch-Site": "same-site"}
        assert c.post("/gradio_api/call/respond", json=RESPOND, headers=other).status_code == 401
        assert c.get("/v1/admin/gaps", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 401
        link.issue()  # the next start: the waiting link stops working too
        assert c.get("/login", params={"token": following}).status_code == 403


def test_behind_a_tls_proxy_the_cookie_is_secure_and_the_origin_is_https(tmp_path) -> None:
    with _serve(_settings(tmp_path), proxy_hops=1) as srv:
        headers = {"X-Forwarded-For": "{append}", "X-Forwarded-Proto": "https"}
        with (
            ForwardProxy(srv.url, headers, keep_host=True) as proxy,
            httpx.Client(base_url=proxy.url, timeout=30) as c,
        ):
            token = srv.app.state.hoidap.login_link.issue()
            r = c.get("/login", params={"token": token})
            assert r.status_code == 200 and "; Secure" in r.headers["set-cookie"]
            sid = r.headers["set-cookie"].split(";")[0]
            host = proxy.url.removeprefix("http://")
            own = {"Cookie": sid, "Origin": f"https://{host}"}
            assert c.post("/gradio_api/call/respond", json=RESPOND, headers=own).is_success
            plain = {"Cookie": sid, "Origin": f"http://{host}"}  # not what the browser sees
            r = c.post("/gradio_api/call/respond", json=RESPOND, headers=plain)
            assert r.status_code == 401


def test_behind_a_real_ip_proxy_a_client_sent_forwarded_for_picks_no_bucket(tmp_path) -> None:
    settings = _settings(tmp_path)
    with _serve(settings, ip_rate="2/min", proxy_hops=1) as srv:
        one = ForwardProxy(srv.url, {"X-Real-IP": "{client}"}, client_ip="203.0.113.7")
        two = ForwardProxy(srv.url, {"X-Real-IP": "{client}"}, client_ip="203.0.113.8")
        with one, two:
            codes = [
                httpx.post(
                    f"{one.url}/v1/ask",
                    json=QUESTION,
                    headers={"X-Forwarded-For": f"198.51.100.{i}"},
                    timeout=30,
                ).status_code
                for i in range(4)
            ]
            assert codes == [401, 401, 429, 429]
            assert httpx.post(f"{two.url}/v1/ask", json=QUESTION, timeout=30).status_code == 401
            assert httpx.get(f"{one.url}/gradio_api/info", timeout=30).status_code == 401


def test_behind_a_forwarded_for_proxy_each_client_has_its_own_bucket(tmp_path) -> None:
    with _serve(_settings(tmp_path), ip_rate="2/min", proxy_hops=1) as srv:
        one = ForwardProxy(srv.url, {"X-Forwarded-For": "{append}"}, client_ip="203.0.113.7")
        two = ForwardProxy(srv.url, {"X-Forwarded-For": "{append}"}, client_ip="203.0.113.8")
        with one, two:
            spoof = {"X-Forwarded-For": "198.51.100.1", "X-Real-IP": "198.51.100.2"}
            codes = [
                httpx.post(f"{one.url}/v1/ask", json=QUESTION, timeout=30).status_code
                for _ in range(3)
            ]
            assert codes == [401, 401, 429]
            r = httpx.post(f"{two.url}/v1/ask", json=QUESTION, headers=spoof, timeout=30)
            assert (
                r.status_code == 401
            )  # disagreeing headers: charged to the proxy, not 203.0.113.7


@pytest.mark.parametrize(
    ("headers", "hops", "expected"),
    [
        ({"x-forwarded-for": "198.51.100.1"}, 0, "127.0.0.1"),
        ({"x-forwarded-for": "1.1.1.1, 203.0.113.7"}, 1, "203.0.113.7"),
        ({"x-forwarded-for": "1.1.1.1, 203.0.113.7, 10.0.0.2"}, 2, "203.0.113.7"),
        ({"forwarded": 'for=1.1.1.1, for="[2001:db8::7]:4711";proto=https'}, 1, "2001:db8::7"),
        ({"x-real-ip": "203.0.113.7"}, 1, "203.0.113.7"),
        ({"x-real-ip": "203.0.113.7", "x-forwarded-for": "203.0.113.7"}, 1, "203.0.113.7"),
        ({"x-real-ip": "203.0.113.7", "x-forwarded-for": "198.51.100.9"}, 1, "127.0.0.1"),
        ({}, 1, "127.0.0.1"),
    ],
)
def test_client_address_reads_only_the_trusted_hop(headers, hops, expected) -> None:
    scope = {
        "client": ("127.0.0.1", 5000),
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    assert client_address(scope, hops) == expected


def test_a_pinned_header_is_the_only_one_read() -> None:
    scope = {
        "client": ("127.0.0.1", 5000),
        "headers": [(b"x-real-ip", b"203.0.113.7"), (b"x-forwarded-for", b"198.51.100.9")],
    }
    assert client_address(scope, 1, "x-real-ip") == "203.0.113.7"


def test_staff_logins_are_throttled_per_address_and_per_user(tmp_path, caplog) -> None:
    settings = _settings(tmp_path, HOIDAP_UI_AUTH=":".join(STAFF))
    caplog.set_level(logging.WARNING, logger="assistant.web.api.login")
    with _serve(settings, proxy_hops=1, ip_rate="1000/min") as srv:
        one = ForwardProxy(srv.url, {"X-Real-IP": "{client}"}, client_ip="203.0.113.7")
        two = ForwardProxy(srv.url, {"X-Real-IP": "{client}"}, client_ip="203.0.113.8")
        with one, two:
            codes = [
                httpx.post(
                    f"{one.url}/login",
                    data={"username": STAFF[0], "password": f"wrong{i}"},
                    timeout=30,
                ).status_code
                for i in range(20)
            ]
            assert codes[:3] == [401, 401, 401] and set(codes[3:]) <= {401, 429}
            assert codes.count(429) >= 16  # a 4th guess only after the 2 s delay
            right = {"username": STAFF[0], "password": STAFF[1]}
            r = httpx.post(f"{one.url}/login", data=right, timeout=30)
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
            # The same user from another address waits too; another user there does not.
            assert httpx.post(f"{two.url}/login", data=right, timeout=30).status_code == 429
            other = {"username": "binh", "password": "x"}
            assert httpx.post(f"{two.url}/login", data=other, timeout=30).status_code == 401
    failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) >= 3 and "203.0.113.7" in failures[0]


def test_the_login_delay_grows_and_a_success_clears_it() -> None:
    now = [0.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    delays = [throttle.failed("203.0.113.7", "lan") for _ in range(6)]
    assert delays == [0, 0, 2, 4, 8, 16]
    assert throttle.wait("203.0.113.7", "binh") == 16  # per address
    assert throttle.wait("198.51.100.1", "lan") == 16  # per user
    now[0] = 16.0
    assert throttle.wait("203.0.113.7", "lan") == 0
    throttle.succeeded("203.0.113.7", "lan")
    assert throttle.failed("203.0.113.7", "lan") == 0


def test_every_gradio_variant_takes_the_per_ip_limit(tmp_path) -> None:
    with _serve(_settings(tmp_path), ip_rate="5/min") as srv:
        codes = [
            httpx.post(f"{srv.url}/gradio_api/api/respond", json=RESPOND, timeout=30).status_code
            for _ in range(7)
        ]
        assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]


def _raw_post(url: str, path: str, head: dict[str, str], body: bytes) -> tuple[int, float]:
    """Send the headers and ``body`` only; the status line and how long it took."""
    host, port = url.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=30) as s:
        lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}"]
        lines += [f"{k}: {v}" for k, v in head.items()]
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        status = s.recv(200).split(b" ", 2)[1]
    return int(status), time.monotonic() - started


@pytest.mark.parametrize("path", GRADIO_CALLS)
def test_a_50_mb_body_to_any_gradio_route_is_413_before_it_is_read(served, path) -> None:
    head = {"Content-Type": "application/json", "Content-Length": str(50 * 1024 * 1024)}
    status, _ = _raw_post(served.url, path, head, b'{"data": [')
    assert status == 413


def test_a_streamed_body_over_the_ui_cap_is_413(served) -> None:
    def chunks():
        yield b'{"data": ["x", ['
        for _ in range(200):
            yield b'{"role": "user", "content": "' + b"a" * 4000 + b'"},'
        yield b"]]}"

    with httpx.Client(base_url=served.url, timeout=30) as c:
        _login(c, served)  # past the door: the route itself starts reading the body
        for path in GRADIO_CALLS:
            r = c.post(path, content=chunks(), headers={"Content-Type": "application/json"})
            assert r.status_code == 413 and "body_too_large" in r.text, (path, r.text[:200])


def _login(client: httpx.Client, srv: ServerThread) -> None:
    token = srv.app.state.hoidap.login_link.issue()
    assert client.get("/login", params={"token": token}).status_code == 200


def test_the_ui_keeps_the_api_history_limits(served) -> None:
    with httpx.Client(base_url=served.url, timeout=60) as c:
        _login(c, served)
        turns = [{"role": "user", "content": [{"type": "text", "text": "c"}]}] * 5_000
        call = c.post("/gradio_api/call/respond", json={"data": ["Đề án 06 là gì?", turns, {}]})
        assert call.status_code == 200
        stream = c.get(f"/gradio_api/call/respond/{call.json()['event_id']}").text
        payloads = [json.loads(x[6:]) for x in stream.splitlines() if x.startswith("data: ")]
        status = [p[3] for p in payloads if isinstance(p, list) and len(p) == 5]
        assert status and "vượt giới hạn 20" in status[-1]


def test_dns_rebinding_hosts_are_refused(tmp_path) -> None:
    with _serve(_settings(tmp_path), allowed_hosts="portal.example,localhost") as srv:
        port = srv.port
        for path in ("/v1/admin/gaps", "/", "/login"):
            r = httpx.get(
                f"{srv.url}{path}",
                headers={"Host": f"attacker.test:{port}", "Sec-Fetch-Site": "same-origin"},
                timeout=30,
            )
            assert r.status_code == 421 and r.json()["error"]["code"] == "host_not_allowed"
            assert "HOIDAP_ALLOWED_HOSTS" in r.json()["error"]["message"]
        portal = httpx.get(f"{srv.url}/login", headers={"Host": "portal.example"}, timeout=30)
        assert portal.status_code == 200
        assert httpx.get(f"{srv.url}/healthz", headers={"Host": "10.0.0.5"}).status_code == 200


@pytest.mark.browser
def test_the_printed_link_opens_the_chat_ui_in_one_click_through_the_proxy(served) -> None:
    """What `make run` ends with: one link that, opened in a browser, shows the chat; behind
    a proxy that passes the browser's Host on, as the README's nginx lines do."""
    from playwright import sync_api

    from assistant.web.server import login_url

    chromium = os.environ.get("HOIDAP_CHROMIUM", "/usr/bin/chromium")
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    with ForwardProxy(served.url, keep_host=True) as proxy, sync_api.sync_playwright() as p:
        link = login_url(served.app, "127.0.0.1", served.port)
        link = link.replace(served.url, proxy.url)  # the operator opens it through the proxy
        browser = p.chromium.launch(executable_path=chromium, args=args)
        try:
            page = browser.new_page()
            page.goto(f"{proxy.url}/")
            assert page.url == f"{proxy.url}/login"  # no session: the login page
            page.goto(link)
            page.get_by_placeholder("Nhập câu hỏi").wait_for(timeout=30_000)
            cookie = next(c for c in page.context.cookies() if c["name"] == "hoidap_session")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            # A question makes the round trip (queue, event stream) with the cookie alone;
            # this data dir has no articles, so the answer is the empty-index message.
            page.get_by_placeholder("Nhập câu hỏi").fill("Đề án 06 là gì?")
            page.locator("#hoidap-send").click()
            status = page.locator("#hoidap-status")
            sync_api.expect(status).to_contain_text("hoidap index", timeout=30_000)
        finally:
            browser.close()


@pytest.mark.browser
def test_staff_log_in_with_the_form_and_reach_the_chat(tmp_path) -> None:
    from playwright import sync_api

    chromium = os.environ.get("HOIDAP_CHROMIUM", "/usr/bin/chromium")
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    settings = _settings(tmp_path, HOIDAP_UI_AUTH=":".join(STAFF))
    with _serve(settings) as srv, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=args)
        try:
            page = browser.new_page()
            page.goto(f"{srv.url}/")  # sent to the login page
            page.get_by_label("Tên đăng nhập").fill(STAFF[0])
            page.get_by_label("Mật khẩu").fill("sai-mat-khau")
            page.get_by_role("button", name="Đăng nhập").click()
            sync_api.expect(page.locator(".err")).to_have_text("Sai tên đăng nhập hoặc mật khẩu.")
            page.get_by_label("Tên đăng nhập").fill(STAFF[0])
            page.get_by_label("Mật khẩu").fill(STAFF[1])
            page.get_by_role("button", name="Đăng nhập").click()
            page.get_by_placeholder("Nhập câu hỏi").wait_for(timeout=30_000)
            assert page.url == f"{srv.url}/"
        finally:
            browser.close()
