"""Who may call what: API keys, widget keys scoped to origins, the login link, CORS."""

from __future__ import annotations

import dataclasses
import json
import sqlite3

import pytest
from fastapi.testclient import TestClient
from support.access import logged_in

from assistant.web.api.config import ApiConfig
from assistant.web.api.keys import KeyStore
from assistant.web.server import create_app

QUESTION = "Thủ tướng giao Bộ Tài chính nhiệm vụ gì?"
LOOPBACK = ("127.0.0.1", 50000)
REMOTE = ("203.0.113.7", 50000)
PORTAL = "https://portal.example"
EVIL = "https://evil.example"
BAD_QUESTION = {"question": ""}  # passes auth, then fails fast: no pipeline run needed


@pytest.fixture
def settings(seed_settings, hoidap_home):
    return dataclasses.replace(seed_settings, home=hoidap_home)


@pytest.fixture
def app(settings, seed_assistant):
    return create_app(
        settings, seed_assistant, api_config=ApiConfig(ip_rate="1000/min"), mount_ui=False
    )


@pytest.fixture
def store(settings) -> KeyStore:
    return KeyStore.for_home(settings.home)


@pytest.fixture
def widget_key(store) -> str:
    return store.create_widget_key([PORTAL], rate="1000/min").key


def client(app, peer=REMOTE) -> TestClient:
    return TestClient(app, base_url="http://localhost", client=peer)


def code(response) -> str:
    assert "Traceback" not in response.text
    return response.json()["error"]["code"]


# -- no local mode: the login link and API keys ---------------------------------------


def test_loopback_grants_nothing_the_login_link_session_does(app, store):
    assert code(client(app, LOOPBACK).post("/v1/ask", json=BAD_QUESTION)) == "auth_required"
    assert code(client(app, REMOTE).post("/v1/ask", json=BAD_QUESTION)) == "auth_required"
    assert client(app, LOOPBACK).get("/v1/admin/gaps").status_code == 401
    # The operator's browser session (the login link): the same from any address.
    for peer in (LOOPBACK, REMOTE):
        operator = logged_in(app, peer)
        assert operator.post("/v1/ask", json=BAD_QUESTION).status_code == 422  # past auth
        assert operator.get("/v1/admin/gaps").status_code == 200
    # A web page elsewhere (even on this machine) cannot ride on the cookie.
    r = operator.post("/v1/ask", json=BAD_QUESTION, headers={"Origin": EVIL})
    assert r.status_code == 401
    r = operator.get("/v1/models", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 401
    r = operator.get("/v1/models", headers={"Sec-Fetch-Site": "same-site"})
    assert r.status_code == 401
    assert operator.get("/v1/models", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    # Keys existing or not changes nothing for either.
    record, _secret = store.create_admin_key(name="ci")
    assert code(client(app, LOOPBACK).post("/v1/ask", json=BAD_QUESTION)) == "auth_required"
    assert operator.post("/v1/ask", json=BAD_QUESTION).status_code == 422
    store.revoke(record.key_id)
    assert client(app, LOOPBACK).post("/v1/ask", json=BAD_QUESTION).status_code == 401


def test_api_key_admits_servers_and_revocation_is_immediate(app, store):
    record, secret = store.create_admin_key()
    auth = {"Authorization": f"Bearer {secret}"}
    r = client(app).post("/v1/ask", json={"question": QUESTION}, headers=auth)
    assert r.status_code == 200 and r.json()["citations"]
    assert client(app).get("/v1/models", headers=auth).json()["data"][0]["id"] == "hoidap"

    wrong = {"Authorization": f"Bearer {secret[:-2]}xx"}
    assert code(client(app).post("/v1/ask", json=BAD_QUESTION, headers=wrong)) == "invalid_api_key"
    assert (
        code(client(app).post("/v1/ask", json=BAD_QUESTION, headers={"Authorization": secret}))
        == "invalid_api_key"
    )

    store.revoke(secret)
    assert code(client(app).post("/v1/ask", json=BAD_QUESTION, headers=auth)) == "invalid_api_key"


def test_public_key_sent_as_bearer_is_explained(app, widget_key):
    r = client(app).post(
        "/v1/ask", json=BAD_QUESTION, headers={"Authorization": f"Bearer {widget_key}"}
    )
    assert r.status_code == 401 and code(r) == "widget_key_as_bearer"


# -- widget keys and origins -------------------------------------------------------------


def test_widget_key_works_only_from_its_origins(app, widget_key):
    ok = client(app).post(
        "/v1/ask",
        json={"question": QUESTION},
        headers={"X-Hoidap-Key": widget_key, "Origin": PORTAL},
    )
    assert ok.status_code == 200 and ok.json()["citations"]
    assert ok.headers["access-control-allow-origin"] == PORTAL

    for origin, expected in (
        (EVIL, "origin_not_allowed"),
        ("null", "origin_not_allowed"),
        ("https://portal.example.evil.example", "origin_not_allowed"),
        ("http://portal.example", "origin_not_allowed"),
    ):
        r = client(app).post(
            "/v1/ask", json=BAD_QUESTION, headers={"X-Hoidap-Key": widget_key, "Origin": origin}
        )
        assert r.status_code == 403 and code(r) == expected, origin
        assert "access-control-allow-origin" not in r.headers

    r = client(app).post("/v1/ask", json=BAD_QUESTION, headers={"X-Hoidap-Key": widget_key})
    assert r.status_code == 403 and code(r) == "origin_required"


def test_widget_key_in_the_body_and_origin_normalization(app, widget_key):
    body = {"question": "", "key": widget_key}
    assert (
        client(app)
        .post("/v1/ask", json=body, headers={"Origin": "HTTPS://Portal.Example:443"})
        .status_code
        == 422
    )
    assert client(app).post("/v1/ask", json=body, headers={"Origin": EVIL}).status_code == 403


def test_widget_key_cannot_reach_server_endpoints(app, widget_key):
    headers = {"X-Hoidap-Key": widget_key, "Origin": PORTAL}
    r = client(app).post(
        "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": QUESTION}]},
        headers=headers,
    )
    assert r.status_code == 403 and code(r) == "endpoint_not_allowed"
    assert code(client(app).get("/v1/models", headers=headers)) == "endpoint_not_allowed"


def test_unknown_and_revoked_widget_keys(app, store, widget_key):
    headers = {"X-Hoidap-Key": "hdpk_" + "A" * 24, "Origin": PORTAL}
    assert code(client(app).post("/v1/ask", json=BAD_QUESTION, headers=headers)) == "invalid_key"
    store.revoke(widget_key)
    r = client(app).post(
        "/v1/ask", json=BAD_QUESTION, headers={"X-Hoidap-Key": widget_key, "Origin": PORTAL}
    )
    assert r.status_code == 403 and code(r) == "key_revoked"


def test_an_empty_allowlist_admits_no_one(app, store, settings):
    with pytest.raises(Exception, match="at least one"):
        store.create_widget_key([])
    # Even a row written by hand (or an older version) with no origins admits nobody.
    key = "hdpk_" + "E" * 24
    assert store.widget_keys() == []  # creates the database
    with sqlite3.connect(settings.home / "keys.sqlite3") as db:
        db.execute(
            "INSERT INTO widget_keys (key, origins, rate, created_at) VALUES (?, ?, ?, ?)",
            (key, json.dumps([]), "100/min", "2024-01-01T00:00:00+00:00"),
        )
    for origin in (PORTAL, "null", EVIL):
        r = client(app).post(
            "/v1/ask", json=BAD_QUESTION, headers={"X-Hoidap-Key": key, "Origin": origin}
        )
        assert r.status_code == 403, origin


def test_widget_config_checks_key_and_origin(app, widget_key):
    r = client(app).get(f"/v1/widget/config?key={widget_key}", headers={"Origin": PORTAL})
    assert r.status_code == 200 and r.json()["max_question_chars"] == 2000
    assert r.headers["access-control-allow-origin"] == PORTAL
    r = client(app).get(f"/v1/widget/config?key={widget_key}", headers={"Origin": EVIL})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers


# -- CORS --------------------------------------------------------------------------------


def _preflight(app, origin: str, path: str = "/v1/chat"):
    return client(app).options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-hoidap-key",
        },
    )


def test_preflight_is_answered_only_for_allowed_origins(app, widget_key):
    ok = _preflight(app, PORTAL)
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == PORTAL
    assert "x-hoidap-key" in ok.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in ok.headers
    for origin in (EVIL, "null", "file://", ""):
        r = _preflight(app, origin)
        assert r.status_code == 403, origin
        assert not any(h.startswith("access-control-") for h in r.headers), origin
    # Server-only endpoints never answer cross-origin preflights, even for a widget origin.
    assert _preflight(app, PORTAL, "/v1/chat/completions").status_code == 403


def test_gradio_routes_do_not_answer_cors_for_foreign_origins(settings, seed_assistant):
    app = create_app(settings, seed_assistant, mount_ui=True)
    c = logged_in(app)
    own = c.get("/gradio_api/info")
    assert own.status_code == 200, "the chat UI is expected to be mounted at /"
    for origin in ("http://localhost:3000", "null", EVIL):
        r = c.get("/gradio_api/info", headers={"Origin": origin})
        assert not any(h.startswith("access-control-") for h in r.headers), (origin, r.headers)
        assert _preflight(app, origin, "/gradio_api/info").status_code == 403


def test_keys_never_reach_the_logs(app, store, widget_key, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    _, secret = store.create_admin_key()
    c = client(app)
    c.post("/v1/ask", json={"question": QUESTION}, headers={"Authorization": f"Bearer {secret}"})
    c.post("/v1/ask", json=BAD_QUESTION, headers={"Authorization": f"Bearer {secret}x"})
    c.post(
        "/v1/chat/completions",
        json={"messages": "bad"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    r = c.post("/v1/ask", json=BAD_QUESTION, headers={"Authorization": f"Bearer {secret}x"})
    assert secret not in caplog.text and secret not in r.text
    # The secret part may itself contain "_" (urlsafe base64), so split only twice.
    assert secret.split("_", 2)[2] not in caplog.text
