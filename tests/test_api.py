"""The HTTP API in-process: real seed index (Chroma + e5 embeddings), real key store, real limits."""

from __future__ import annotations

import dataclasses
import json

import pytest
from fastapi.testclient import TestClient
from support.access import logged_in

from assistant.answering.answer import REFUSAL_TEXT
from assistant.answering.assistant import Assistant
from assistant.web.api.config import ApiConfig
from assistant.web.api.keys import KeyStore
from assistant.web.server import create_app

QUESTION = "Thủ tướng giao Bộ Tài chính nhiệm vụ gì?"
LOOPBACK = ("127.0.0.1", 50000)
REMOTE = ("203.0.113.7", 50000)
PORTAL = "https://portal.example"


@pytest.fixture
def settings(seed_settings, hoidap_home):
    """The seed index, but keys (and everything else the API writes) in this test's home."""
    return dataclasses.replace(seed_settings, home=hoidap_home)


@pytest.fixture
def app(settings, seed_assistant):
    return create_app(
        settings, seed_assistant, api_config=ApiConfig(ip_rate="1000/min"), mount_ui=False
    )


@pytest.fixture
def local(app) -> TestClient:
    return logged_in(app)


@pytest.fixture
def remote(app) -> TestClient:
    return TestClient(app, base_url="http://localhost", client=REMOTE)


@pytest.fixture
def store(settings) -> KeyStore:
    return KeyStore.for_home(settings.home)


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "message_en"}, body
    assert "Traceback" not in response.text
    return body["error"]


def _events(text: str) -> list[tuple[str, dict]]:
    out = []
    for frame in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


# -- health -----------------------------------------------------------------------------


def test_healthz_and_readyz_report_the_loaded_index(remote):
    assert remote.get("/healthz").json() == {"ok": True}
    ready = remote.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["ok"] is True and ready.json()["chunks"] > 20


def test_readyz_is_503_with_an_empty_index(fake_settings):
    app = create_app(fake_settings, Assistant(fake_settings), mount_ui=False)
    r = TestClient(app, base_url="http://localhost").get("/readyz")
    assert r.status_code == 503
    assert r.json() == {"ok": False, "chunks": 0, "error": "index_empty"}


def test_empty_index_gives_a_json_503_not_a_trace(fake_settings):
    app = create_app(fake_settings, Assistant(fake_settings), mount_ui=False)
    client = logged_in(app)
    for path, body in (
        ("/v1/ask", {"question": QUESTION}),
        ("/v1/chat", {"messages": [{"role": "user", "content": QUESTION}]}),
    ):
        r = client.post(path, json=body)
        assert r.status_code == 503
        err = _error(r)
        assert err["code"] == "index_empty" and "hoidap index" in err["message"]


# -- /v1/ask and /v1/chat ----------------------------------------------------------------


def test_ask_returns_the_cli_json_object(local, seed_assistant):
    r = local.post("/v1/ask", json={"question": QUESTION})
    assert r.status_code == 200
    body = r.json()
    expected = seed_assistant.ask(QUESTION).to_json()
    assert set(body) == set(expected)
    assert body["answer"] == expected["answer"] and not body["refused"]
    assert body["citations"] and body["citations"][0]["n"] == 1
    assert "[1]" in body["answer"]
    assert body["citations"][0]["quote"] in body["citations"][0]["text"]


def test_chat_sends_an_extractive_answer_whole_then_a_final_event_with_citations(local):
    r = local.post("/v1/chat", json={"messages": [{"role": "user", "content": QUESTION}]})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = _events(r.text)
    names = [name for name, _ in events]
    # An extractive answer is known in full at once: one token event, not a word-by-word replay.
    assert names[-1] == "final" and names.count("token") == 1
    streamed = "".join(data["text"] for name, data in events if name == "token")
    final = events[-1][1]
    assert streamed == final["answer"]
    assert final["refused"] is False and final["citations"]


def test_chat_uses_history_for_a_follow_up(local):
    first = local.post("/v1/ask", json={"question": QUESTION}).json()
    messages = [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": first["answer"]},
        {"role": "user", "content": "Còn Bộ Y tế thì sao?"},
    ]
    final = _events(local.post("/v1/chat", json={"messages": messages}).text)[-1][1]
    assert "Bộ Y tế" in final["standalone_question"]
    assert final["standalone_question"] != "Còn Bộ Y tế thì sao?"


def test_a_refusal_passes_through_with_no_citations(settings, seed_settings, seed_assistant):
    strict = Assistant(
        dataclasses.replace(seed_settings, refusal_threshold=1e9), embedder=seed_assistant.embedder
    )
    client = logged_in(create_app(settings, strict, mount_ui=False))
    body = client.post("/v1/ask", json={"question": QUESTION}).json()
    assert body["refused"] is True and body["citations"] == []
    assert body["answer"] == REFUSAL_TEXT
    events = _events(
        client.post("/v1/chat", json={"messages": [{"role": "user", "content": QUESTION}]}).text
    )
    assert events[-1][0] == "final" and events[-1][1]["refused"] is True


# -- limits and error shape --------------------------------------------------------------


def test_question_over_the_limit_is_422_with_a_clear_message(local, settings):
    r = local.post("/v1/ask", json={"question": "a" * (settings.max_question_chars + 1)})
    assert r.status_code == 422
    err = _error(r)
    assert err["code"] == "question_too_long"
    assert str(settings.max_question_chars) in err["message"] and "ký tự" in err["message"]


def test_empty_question_is_422(local):
    r = local.post("/v1/chat", json={"messages": [{"role": "user", "content": "   "}]})
    assert r.status_code == 422 and _error(r)["code"] == "empty_question"


def test_too_many_turns_and_too_long_turns_are_422(local):
    turns = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}] * 11
    r = local.post("/v1/ask", json={"question": QUESTION, "history": turns})
    assert r.status_code == 422 and _error(r)["code"] == "too_many_turns"
    long_turn = [{"role": "user", "content": "x" * 8001}]
    r = local.post("/v1/ask", json={"question": QUESTION, "history": long_turn})
    assert r.status_code == 422 and _error(r)["code"] == "turn_too_long"


def test_oversized_body_is_413_declared_or_streamed(local):
    big = json.dumps({"question": QUESTION, "history": [{"role": "user", "content": "x" * 70000}]})
    r = local.post("/v1/ask", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and _error(r)["code"] == "body_too_large"

    def chunks():  # no Content-Length: counted while reading
        for _ in range(80):
            yield b" " * 1000

    r = local.post("/v1/ask", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and _error(r)["code"] == "body_too_large"


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps({"question": 5}),
        json.dumps({"question": QUESTION, "history": [{"role": "system", "content": "x"}]}),
        json.dumps({"question": QUESTION, "session_id": "abc"}),
        json.dumps([1, 2]),
    ],
)
def test_malformed_bodies_get_invalid_request_in_both_languages(local, body):
    r = local.post("/v1/ask", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422
    err = _error(r)
    assert err["code"] == "invalid_request"
    assert err["message"].startswith("Yêu cầu không hợp lệ") and err["message_en"].startswith(
        "Invalid request"
    )


def test_chat_must_end_with_a_user_message(local):
    r = local.post("/v1/chat", json={"messages": [{"role": "assistant", "content": "x"}]})
    assert r.status_code == 422 and _error(r)["code"] == "last_message_not_user"


def test_openapi_schema_lists_every_endpoint_and_both_key_schemes(remote):
    schema = remote.get("/openapi.json").json()
    for path in (
        "/v1/ask",
        "/v1/chat",
        "/v1/chat/completions",
        "/v1/models",
        "/healthz",
        "/readyz",
        "/widget.js",
        "/embed",
    ):
        assert path in schema["paths"], path
    assert {"ApiKey", "WidgetKey"} <= set(schema["components"]["securitySchemes"])
    ask = schema["paths"]["/v1/ask"]["post"]
    assert {"401", "403", "413", "422", "429"} <= set(ask["responses"])


# -- widget assets -----------------------------------------------------------------------


def test_widget_script_is_plain_js_that_never_parses_html(remote):
    r = remote.get("/widget.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["x-content-type-options"] == "nosniff"
    js = r.text
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
    ):
        assert sink not in js, sink
    assert "attachShadow" in js and "document.currentScript" in js and "getReader()" in js
    assert "X-Hoidap-Key" in js and "/v1/chat" in js


def test_embed_page_is_framable_only_by_the_keys_origins(remote, store):
    key = store.create_widget_key([PORTAL, "http://127.0.0.1:8080"]).key
    r = remote.get(f"/embed?key={key}")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert f"frame-ancestors http://127.0.0.1:8080 {PORTAL}" in csp
    assert "script-src 'self'" in csp
    assert f'data-key="{key}"' in r.text and 'data-mode="inline"' in r.text

    for bad in ("", "nope", '"><script>alert(1)</script>', "hdpk_" + "Z" * 24):
        r = remote.get("/embed", params={"key": bad})
        assert r.status_code == 403, bad
        assert "<script>alert" not in r.text and "không hợp lệ" in r.text
    store.revoke(key)
    assert remote.get(f"/embed?key={key}").status_code == 403


def test_embed_framed_by_a_foreign_page_explains_instead_of_a_browser_error(remote, store):
    key = store.create_widget_key([PORTAL]).key
    framed = {"Sec-Fetch-Dest": "iframe"}
    r = remote.get(f"/embed?key={key}", headers={**framed, "Referer": f"{PORTAL}/news/1"})
    assert (
        r.status_code == 200 and f"frame-ancestors {PORTAL}" in r.headers["content-security-policy"]
    )

    r = remote.get(f"/embed?key={key}", headers={**framed, "Referer": "https://evil.example/x?y"})
    assert r.status_code == 403
    assert (
        "https://evil.example chưa được phép nhúng" in r.text and "keys create --origin" in r.text
    )
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors" not in csp and "script-src" not in csp  # framable, inert
    assert key not in r.text  # the refusal page carries nothing of the widget

    # Not a frame load, or no referrer to go by: the real page, guarded by its CSP alone.
    for headers in ({"Referer": "https://evil.example/"}, framed):
        r = remote.get(f"/embed?key={key}", headers=headers)
        assert (
            r.status_code == 200
            and f"frame-ancestors {PORTAL}" in r.headers["content-security-policy"]
        )
