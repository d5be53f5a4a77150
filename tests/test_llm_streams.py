"""LLM answer streams under a real uvicorn: stalled servers, clients that leave, health."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time

import httpx
import pytest
from support.openai_server import OpenAIServer, Reply

from assistant.answering.assistant import LLM_FALLBACK_NOTICE, Assistant
from assistant.web.api.config import ApiConfig
from assistant.web.api.keys import KeyStore
from assistant.web.api.thread_server import ServerThread
from assistant.web.server import create_app
from index.config import Settings

pytestmark = [pytest.mark.server, pytest.mark.slow]

QUESTION = "Ai chủ trì cuộc họp với các bộ, ngành về tình hình thực hiện Đề án 06 chiều 08/5/2023?"
ANSWER = "Phó Thủ tướng Trần Hồng Hà chủ trì cuộc họp về tình hình thực hiện Đề án 06 chiều 08/5/2023 [1]."


@pytest.fixture()
def llm_server():
    with OpenAIServer() as srv:
        yield srv


def _assistant(seed_settings, seed_assistant, url: str, **extra: str) -> Assistant:
    env = {
        "HOIDAP_HOME": str(seed_settings.home),
        "HOIDAP_LLM_BASE_URL": url,
        "HOIDAP_LLM_MODEL": "test-model",
        "HOIDAP_LLM_TIMEOUT": "20",
        **extra,
    }
    return Assistant(Settings.load(env=env), embedder=seed_assistant.embedder)


def test_a_stalled_stream_ends_at_the_idle_timeout_with_the_extractive_answer(
    llm_server, seed_settings, seed_assistant
) -> None:
    assistant = _assistant(
        seed_settings, seed_assistant, llm_server.url, HOIDAP_LLM_IDLE_TIMEOUT="1"
    )
    llm_server.script(Reply("answer", ANSWER, token_delay=8))  # 8 s between tokens
    stamps, answer = {}, None
    for event in assistant.stream(QUESTION):
        stamps.setdefault(event["type"], time.perf_counter())
        answer = event.get("answer", answer)
    elapsed = stamps["final"] - stamps["retrieved"]  # the LLM's part only
    assert elapsed < 6, elapsed  # not 8 s per token, nor the 20 s request timeout
    assert (answer.mode, answer.notice, answer.refused) == (
        "extractive",
        LLM_FALLBACK_NOTICE,
        False,
    )


def _server(seed_settings, seed_assistant, llm_url: str, tmp_path, env=None, **config):
    assistant = _assistant(seed_settings, seed_assistant, llm_url, **(env or {}))
    settings = dataclasses.replace(assistant.settings, home=tmp_path)
    app = create_app(
        settings, assistant, api_config=ApiConfig(ip_rate="10000/min", **config), mount_ui=False
    )
    server = ServerThread(app)
    server.headers = _key(tmp_path)  # one caller: one API key
    return server


def _key(home) -> dict[str, str]:
    _, secret = KeyStore.for_home(home).create_admin_key()
    return {"Authorization": f"Bearer {secret}"}


def test_a_client_that_leaves_cancels_the_llm_stream(
    llm_server, seed_settings, seed_assistant, tmp_path
) -> None:
    sentences = " ".join([ANSWER] * 40)
    llm_server.script(Reply("answer", sentences, token_delay=0.1))  # about 80 s in all
    with _server(seed_settings, seed_assistant, llm_server.url, tmp_path) as srv:
        body = {"messages": [{"role": "user", "content": QUESTION}]}
        with (
            httpx.Client(timeout=30) as client,
            client.stream("POST", f"{srv.url}/v1/chat", json=body, headers=srv.headers) as r,
        ):
            for line in r.iter_lines():
                if line.startswith("event: token"):
                    break  # the first verified sentence arrived; now leave
        deadline = time.monotonic() + 15
        while llm_server.aborted == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert llm_server.aborted == 1  # the LLM connection was closed, long before its end


def test_health_and_readiness_never_wait_behind_stalled_streams(
    llm_server, seed_settings, seed_assistant, tmp_path
) -> None:
    llm_server.set_default(Reply("answer", ANSWER, token_delay=3))  # a token every 3 s
    env = {"HOIDAP_LLM_STREAM_SECONDS": "20"}  # the total cap ends each stream after 20 s
    with _server(
        seed_settings,
        seed_assistant,
        llm_server.url,
        tmp_path,
        env,
        workers=2,
        llm_streams=2,
        streams_per_caller=10,
    ) as srv:
        body = {"messages": [{"role": "user", "content": QUESTION}]}

        def stalled() -> None:
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(f"{srv.url}/v1/chat", json=body, headers=srv.headers, timeout=90)

        threads = [threading.Thread(target=stalled, daemon=True) for _ in range(6)]
        for t in threads:
            t.start()
        (limiters,) = _wait_for(lambda: list(srv.app.state.hoidap.runner._limiters.values()))
        # Six streams, two question workers: once every retrieval is done, the stalled
        # streams hold no question worker (they wait on the LLM in a pool of their own).
        assert _wait_for(lambda: len(llm_server.chat_requests()) >= 2)
        assert _wait_for(lambda: limiters["work"].borrowed_tokens == 0, 60)
        assert limiters["llm"].borrowed_tokens == 2  # capped
        for path in ("/healthz", "/readyz"):
            started = time.perf_counter()
            r = httpx.get(f"{srv.url}{path}", timeout=30)
            assert r.status_code == 200 and time.perf_counter() - started < 1.0, path
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads)


def test_one_caller_holds_at_most_its_share_of_answer_streams(
    llm_server, seed_settings, seed_assistant, tmp_path
) -> None:
    llm_server.set_default(Reply("answer", ANSWER, token_delay=2))
    env = {"HOIDAP_LLM_STREAM_SECONDS": "6"}
    with _server(
        seed_settings, seed_assistant, llm_server.url, tmp_path, env, streams_per_caller=2
    ) as srv:
        body = {"messages": [{"role": "user", "content": QUESTION}]}
        statuses: list[int] = []

        def ask() -> None:
            with contextlib.suppress(httpx.HTTPError):
                statuses.append(
                    httpx.post(
                        f"{srv.url}/v1/chat", json=body, headers=srv.headers, timeout=90
                    ).status_code
                )

        threads = [threading.Thread(target=ask) for _ in range(5)]
        for t in threads:
            t.start()
        # The same caller: two streams reach the LLM, the others wait their turn (no error).
        assert _wait_for(lambda: len(llm_server.chat_requests()) >= 2)
        time.sleep(1.0)
        assert len(llm_server.chat_requests()) == 2
        for t in threads:
            t.join(timeout=120)
        assert statuses == [200] * 5 and len(llm_server.chat_requests()) == 5


def test_a_client_leaving_a_silent_stream_gives_its_share_back_at_once(
    llm_server, seed_settings, seed_assistant, tmp_path
) -> None:
    """A stalled answer sends nothing (no sentence is complete, so none is verified): the
    server must notice the client leaving from the connection, not from a failed write."""
    stall = "Đề án 06 kéo dài bao lâu?"
    llm_server.set_default(Reply("answer", ANSWER))
    llm_server.when("kéo dài", Reply("answer", "một câu rất chậm " * 30, token_delay=1))
    env = {"HOIDAP_LLM_STREAM_SECONDS": "60", "HOIDAP_LLM_IDLE_TIMEOUT": "30"}
    with _server(
        seed_settings, seed_assistant, llm_server.url, tmp_path, env, streams_per_caller=1
    ) as srv:
        body = {"messages": [{"role": "user", "content": stall}]}
        with httpx.Client(timeout=30) as client:
            with client.stream("POST", f"{srv.url}/v1/chat", json=body, headers=srv.headers) as r:
                assert r.status_code == 200  # the answer is under way; leave before any token
            assert _wait_for(lambda: any(stall in q.last_user for q in llm_server.chat_requests()))
        started = time.perf_counter()
        # The caller's only share was the dropped stream's: this waits until it is given back.
        r = httpx.post(
            f"{srv.url}/v1/ask", json={"question": QUESTION}, headers=srv.headers, timeout=60
        )
        waited = time.perf_counter() - started
        assert r.status_code == 200 and not r.json()["refused"]
        assert waited < 5, f"the dropped stream kept its share for {waited:.1f} s"
        assert _wait_for(lambda: llm_server.aborted >= 1, 10)  # its LLM connection was closed


def test_two_keys_with_slow_answers_cannot_hold_every_llm_stream(
    llm_server, seed_settings, seed_assistant, tmp_path
) -> None:
    """Two keys, each within its rate, open four stalled answers apiece: with the default
    share per key they hold half the LLM pool, and a third key is answered at once."""
    stall = "Đề án 06 kéo dài bao lâu?"
    llm_server.set_default(Reply("answer", ANSWER))
    llm_server.when("kéo dài", Reply("answer", "một câu rất chậm " * 30, token_delay=1))
    env = {"HOIDAP_LLM_STREAM_SECONDS": "25", "HOIDAP_LLM_IDLE_TIMEOUT": "30"}
    with _server(seed_settings, seed_assistant, llm_server.url, tmp_path, env) as srv:
        assert srv.app.state.hoidap.config.streams_per_caller * 2 < 8  # the default share
        squeezers = [_key(tmp_path), _key(tmp_path)]
        body = {"messages": [{"role": "user", "content": stall}]}

        def stalled(headers) -> None:
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(f"{srv.url}/v1/chat", json=body, headers=headers, timeout=90)

        threads = [
            threading.Thread(target=stalled, args=(h,), daemon=True)
            for h in squeezers
            for _ in range(4)
        ]
        for t in threads:
            t.start()
        assert _wait_for(lambda: len(llm_server.chat_requests()) >= 4)
        started = time.perf_counter()
        r = httpx.post(
            f"{srv.url}/v1/ask", json={"question": QUESTION}, headers=srv.headers, timeout=60
        )
        waited = time.perf_counter() - started
        assert r.status_code == 200 and r.json()["mode"] == "llm"
        assert waited < 10, f"the third key waited {waited:.1f} s behind two keys' streams"
        stalled_at_llm = [q for q in llm_server.chat_requests() if stall in q.last_user]
        assert len(stalled_at_llm) == 4  # two per key; the others wait behind their own
        for t in threads:
            t.join(timeout=120)


def _wait_for(fn, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.1)
    return fn()
