"""The chat UI under the same door policy as the API: a session (login link or staff
login) or an admin key; where a request comes from grants nothing."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient
from support.access import logged_in

from assistant.web.api.config import ApiConfig
from assistant.web.api.ui_access import parse_ui_auth
from assistant.web.server import create_app
from index.errors import ConfigError

LOOPBACK = ("127.0.0.1", 50000)
REMOTE = ("203.0.113.7", 50000)
STAFF = ("lan", "mat-khau-rat-dai")
RESPOND = {"data": ["Đề án 06 là gì?", [], {}]}

pytestmark = pytest.mark.slow


def _app(seed_settings, seed_assistant, home, ui_auth: str = ""):
    settings = dataclasses.replace(seed_settings, home=home, ui_auth=ui_auth)
    return create_app(settings, seed_assistant, api_config=ApiConfig(ip_rate="10000/min"))


@pytest.fixture(scope="module")
def open_app(seed_settings, seed_assistant, tmp_path_factory):
    return _app(seed_settings, seed_assistant, tmp_path_factory.mktemp("ui-open"))


@pytest.fixture(scope="module")
def login_app(seed_settings, seed_assistant, tmp_path_factory):
    return _app(seed_settings, seed_assistant, tmp_path_factory.mktemp("ui-login"), ":".join(STAFF))


@pytest.mark.parametrize("path", ["/", "/config", "/gradio_api/info"])
@pytest.mark.parametrize("who", [LOOPBACK, REMOTE])
def test_without_a_session_nobody_gets_the_ui_wherever_they_connect_from(open_app, path, who):
    r = TestClient(open_app, base_url="http://localhost", client=who).get(path)
    assert r.status_code == 401 and r.json()["error"]["code"] == "login_required"
    assert "hoidap serve" in r.json()["error"]["message"]


def test_a_browser_without_a_session_is_sent_to_the_login_page(open_app) -> None:
    client = TestClient(open_app, base_url="http://localhost", client=LOOPBACK)
    r = client.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    page = client.get("/login")
    assert page.status_code == 200 and "hoidap serve" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_the_ui_question_call_is_refused_without_a_session(open_app) -> None:
    for who in (LOOPBACK, REMOTE):
        client = TestClient(open_app, base_url="http://localhost", client=who)
        assert client.post("/gradio_api/call/respond", json=RESPOND).status_code == 401


def test_the_login_link_opens_the_ui_from_any_address(open_app) -> None:
    client = logged_in(open_app, REMOTE)
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["x-frame-options"] == "SAMEORIGIN"
    call = client.post("/gradio_api/call/respond", json=RESPOND)
    assert call.status_code == 200 and "event_id" in call.json()


def test_the_api_and_widget_keep_their_own_policy(open_app) -> None:
    client = TestClient(open_app, base_url="http://localhost", client=REMOTE)
    assert client.get("/healthz").status_code == 200
    assert client.get("/widget.js").status_code == 200
    assert client.post("/v1/ask", json={"question": "Đề án 06 là gì?"}).status_code == 401


@pytest.mark.parametrize("who", [LOOPBACK, REMOTE])
def test_uploads_are_refused(open_app, login_app, who) -> None:
    for app in (open_app, login_app):
        r = logged_in(app, who).post("/gradio_api/upload", files={"files": ("a.txt", b"x" * 1000)})
        assert r.status_code == 403 and r.json()["error"]["code"] == "uploads_disabled"


def test_with_ui_logins_remote_staff_must_log_in(login_app) -> None:
    client = TestClient(login_app, base_url="http://localhost", client=REMOTE)
    call = client.post("/gradio_api/call/respond", json=RESPOND)
    assert call.status_code == 401  # no session yet
    assert "username" in client.get("/login").text  # the staff form is offered
    forged = client.post(  # another site posting the form (login CSRF)
        "/login",
        data={"username": STAFF[0], "password": STAFF[1]},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert forged.status_code == 403 and "set-cookie" not in forged.headers
    bad = client.post("/login", data={"username": STAFF[0], "password": "sai-mat-khau"})
    assert bad.status_code == 401 and "Sai tên đăng nhập" in bad.text
    ok = client.post("/login", data={"username": STAFF[0], "password": STAFF[1]})
    assert ok.status_code == 200 and "SameSite=Strict" in ok.headers["set-cookie"]
    call = client.post("/gradio_api/call/respond", json=RESPOND)
    assert call.status_code == 200 and "event_id" in call.json()
    # A staff session is for the chat UI: the API and admin data still need a key.
    assert client.get("/v1/admin/gaps").status_code == 401
    assert client.post("/logout").status_code == 200
    assert client.post("/gradio_api/call/respond", json=RESPOND).status_code == 401


@pytest.mark.parametrize("value", ["lan", "lan:short", ":mat-khau-rat-dai", "a:mat-khau-rat-dai,b"])
def test_malformed_ui_logins_are_a_config_error(value) -> None:
    with pytest.raises(ConfigError, match="HOIDAP_UI_AUTH"):
        parse_ui_auth(value)


def test_ui_logins_parse() -> None:
    assert parse_ui_auth(" lan:mat-khau-rat-dai , binh:mot-mat-khau-khac ") == [
        ("lan", "mat-khau-rat-dai"),
        ("binh", "mot-mat-khau-khac"),
    ]
