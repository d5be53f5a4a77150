"""The app under a real uvicorn on loopback: raw paths, the ``openai`` SDK, chunked bodies."""

from __future__ import annotations

import dataclasses
import http.client

import httpx
import pytest
from openai import OpenAI

from assistant.web.api.config import ApiConfig
from assistant.web.api.keys import KeyStore
from assistant.web.api.thread_server import ServerThread
from assistant.web.server import create_app

pytestmark = [pytest.mark.server, pytest.mark.slow]

QUESTION = "Thủ tướng giao Bộ Tài chính nhiệm vụ gì?"

TRAVERSALS = [
    "/file=../../etc/passwd",
    "/file=/etc/passwd",
    "/gradio_api/file=../../etc/passwd",
    "/gradio_api/file=/etc/passwd",
    "/gradio_api/file=%2Fetc%2Fpasswd",
    "/gradio_api/file=..%2F..%2F..%2Fetc%2Fpasswd",
    "/gradio_api/file=%2e%2e/%2e%2e/etc/passwd",
    "/gradio_api/file=%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "/gradio_api/file=..\\..\\etc\\passwd",
    "/gradio_api/file=/proc/self/environ",
    "/gradio_api/file={home}/keys.sqlite3",
    "/gradio_api/file=pyproject.toml",
    "/static/../../../etc/passwd",
    "/assets/..%2f..%2f..%2fetc%2fpasswd",
    "/widget.js/../../etc/passwd",
]


@pytest.fixture(scope="module")
def server(seed_settings, seed_assistant, tmp_path_factory):
    home = tmp_path_factory.mktemp("api-server-home")
    settings = dataclasses.replace(seed_settings, home=home)
    _, secret = KeyStore.for_home(home).create_admin_key(name="sdk")
    app = create_app(
        settings, seed_assistant, api_config=ApiConfig(ip_rate="1000/min"), mount_ui=True
    )
    with ServerThread(app) as srv:
        srv.secret = secret
        srv.home = home
        yield srv


def _raw_get(srv: ServerThread, path: str) -> tuple[int, bytes]:
    """http.client sends the path byte for byte (no client-side normalization of '..');
    with the admin key, so the request gets past the UI's door to the file routes."""
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {srv.secret}"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_ui_is_mounted_next_to_the_api(server):
    status, body = _raw_get(server, "/")
    assert status == 200 and b"<html" in body.lower()
    status, body = _raw_get(server, "/healthz")
    assert status == 200 and body == b'{"ok":true}'
    assert httpx.get(f"{server.url}/", timeout=30).status_code == 401  # no credential


@pytest.mark.parametrize("template", TRAVERSALS)
def test_file_routes_never_read_outside_what_the_app_serves(server, template):
    path = template.format(home=server.home)
    status, body = _raw_get(server, path)
    assert status in (400, 403, 404), (path, status)
    assert b"root:" not in body and b"SQLite format" not in body and b"[project]" not in body
    assert b"Traceback" not in body


def test_openai_sdk_uses_hoidap_as_a_model(server):
    client = OpenAI(base_url=server.url + "/v1", api_key=server.secret, max_retries=0, timeout=60)
    assert [m.id for m in client.models.list()] == ["hoidap"]

    completion = client.chat.completions.create(
        model="hoidap", messages=[{"role": "user", "content": QUESTION}]
    )
    content = completion.choices[0].message.content
    assert "[1]" in content and "Nguồn:" in content
    citations = completion.model_extra["citations"]
    assert citations and citations[0]["n"] == 1 and citations[0]["quote"] in citations[0]["text"]

    stream = client.chat.completions.create(
        model="hoidap", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    pieces, extras = [], []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.model_extra.get("citations"):
            extras.append(chunk.model_extra["citations"])
    assert "".join(pieces) == content and extras == [citations]


def test_openai_sdk_sees_auth_errors(server):
    import openai

    client = OpenAI(base_url=server.url + "/v1", api_key="wrong", max_retries=0, timeout=30)
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(
            model="hoidap", messages=[{"role": "user", "content": QUESTION}]
        )
    assert info.value.status_code == 401
    assert info.value.body["code"] == "invalid_api_key"


def test_chunked_oversized_body_is_refused_with_413(server):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        conn.putrequest("POST", "/v1/ask")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Authorization", f"Bearer {server.secret}")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        chunk = b" " * 8192
        try:
            for _ in range(20):  # 160 KiB, no Content-Length
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before the whole body is sent
        response = conn.getresponse()
        assert response.status == 413
        assert b"body_too_large" in response.read()
    finally:
        conn.close()


def test_load_test_client_is_bounded_and_counts_statuses(server):
    """The benchmark's client loop, briefly, against this server (the full run is bench/)."""
    import asyncio
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "load_test.py"
    spec = importlib.util.spec_from_file_location("load_test", path)
    load_test = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(load_test)
    result = asyncio.run(
        load_test.run_load(
            server.url, server.secret, clients=4, duration=30.0, max_requests=12, timeout=30.0
        )
    )
    assert (
        result["requests"] == 12 and result["ok"] == 12
    )  # stopped by the request cap, not the clock
    assert result["errors_by_status"] == {} and result["transport_errors"] == {}
    assert (
        0
        < result["latency_ms"]["p50"]
        <= result["latency_ms"]["p95"]
        <= result["latency_ms"]["max"]
    )


@pytest.fixture()
def strict_server(seed_settings, seed_assistant, tmp_path):
    """A real server with a tight per-IP limit (5 a minute) and the UI mounted."""
    settings = dataclasses.replace(seed_settings, home=tmp_path)
    app = create_app(settings, seed_assistant, api_config=ApiConfig(ip_rate="5/min"))
    with ServerThread(app) as srv:
        yield srv


def test_forwarded_for_from_loopback_does_not_choose_the_rate_limit_bucket(strict_server):
    statuses = []
    with httpx.Client(base_url=strict_server.url, timeout=30) as client:
        for i in range(8):
            r = client.post(
                "/v1/ask",
                json={"question": QUESTION},
                headers={"X-Forwarded-For": f"203.0.113.{i}"},
            )
            statuses.append(r.status_code)
    assert statuses.count(429) >= 3, statuses  # one bucket, whatever the header claims


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/ask", {"question": 42}),  # 422: invalid body
        ("/v1/ask", {}),  # 422: no question
        ("/v1/chat", {"messages": "nope"}),
        ("/gradio_api/call/respond", {"data": "nope"}),  # the chat UI's endpoint
    ],
)
def test_rejected_requests_take_a_token_too(strict_server, path, body):
    with httpx.Client(base_url=strict_server.url, timeout=30) as client:
        statuses = [client.post(path, json=body).status_code for _ in range(7)]
        after = client.post("/v1/ask", json={"question": QUESTION})
    assert 429 in statuses and all(s != 200 for s in statuses[:5]), statuses
    assert after.status_code == 429 and int(after.headers["retry-after"]) >= 1
    assert after.json()["error"]["code"] == "rate_limited"
