"""The chat UI under the same door policy as the API: loopback only, or a staff login."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient

from assistant.api.config import ApiConfig
from assistant.api.ui_access import parse_ui_auth
from assistant.server import create_app
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
def test_without_ui_logins_remote_clients_get_a_clear_403(open_app, path) -> None:
    r = TestClient(open_app, client=REMOTE).get(path)
    assert r.status_code == 403 and r.json()["error"]["code"] == "ui_local_only"
    assert "HOIDAP_UI_AUTH" in r.json()["error"]["message"]


def test_the_ui_question_call_is_refused_to_remote_clients(open_app) -> None:
    r = TestClient(open_app, client=REMOTE).post("/gradio_api/call/respond", json=RESPOND)
    assert r.status_code == 403


def test_a_forwarded_request_through_an_undeclared_proxy_is_not_local(open_app) -> None:
    client = TestClient(open_app, client=LOOPBACK)
    assert client.get("/", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403
    assert client.get("/").status_code == 200  # the machine's own users still get the UI


def test_the_api_and_widget_keep_their_own_policy(open_app) -> None:
    client = TestClient(open_app, client=REMOTE)
    assert client.get("/healthz").status_code == 200
    assert client.get("/widget.js").status_code == 200
    assert client.post("/v1/ask", json={"question": "Đề án 06 là gì?"}).status_code == 401


@pytest.mark.parametrize("who", [LOOPBACK, REMOTE])
def test_uploads_are_refused(open_app, login_app, who) -> None:
    for app in (open_app, login_app):
        r = TestClient(app, client=who).post(
            "/gradio_api/upload", files={"files": ("a.txt", b"x" * 1000)}
        )
        assert r.status_code == 403 and r.json()["error"]["code"] == "uploads_disabled"


def test_with_ui_logins_remote_staff_must_log_in(login_app) -> None:
    client = TestClient(login_app, client=REMOTE)
    call = client.post("/gradio_api/call/respond", json=RESPOND)
    assert call.status_code in (401, 403)  # no session yet
    bad = client.post("/login", data={"username": STAFF[0], "password": "sai-mat-khau"})
    assert bad.status_code >= 400
    ok = client.post("/login", data={"username": STAFF[0], "password": STAFF[1]})
    assert ok.status_code == 200
    call = client.post("/gradio_api/call/respond", json=RESPOND)
    assert call.status_code == 200 and "event_id" in call.json()


@pytest.mark.parametrize("value", ["lan", "lan:short", ":mat-khau-rat-dai", "a:mat-khau-rat-dai,b"])
def test_malformed_ui_logins_are_a_config_error(value) -> None:
    with pytest.raises(ConfigError, match="HOIDAP_UI_AUTH"):
        parse_ui_auth(value)


def test_ui_logins_parse() -> None:
    assert parse_ui_auth(" lan:mat-khau-rat-dai , binh:mot-mat-khau-khac ") == [
        ("lan", "mat-khau-rat-dai"),
        ("binh", "mot-mat-khau-khac"),
    ]
