"""Hostile Unicode in questions and history: a clear 4xx or an answer, never a 500."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from support.access import logged_in

from assistant.web.api.config import ApiConfig
from assistant.web.server import create_app
from index.errors import InvalidQuestion
from index.normalize import match_form, nfc, repair_unicode, strip_invisible

LOOPBACK = ("127.0.0.1", 50000)
LONE_SURROGATE_BODY = '{"question": "B\\u1ed9 \\ud800 T\\u00e0i ch\\u00ednh"}'


@pytest.fixture(scope="module")
def client(seed_settings, seed_assistant, tmp_path_factory):
    settings = dataclasses.replace(seed_settings, home=tmp_path_factory.mktemp("unicode-home"))
    app = create_app(
        settings, seed_assistant, api_config=ApiConfig(ip_rate="100000/min"), mount_ui=False
    )
    return logged_in(app)


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("Bộ\u200bY tế", "Bộ Y tế"),  # a zero-width space separated two words
        ("Bộ Y\u200d tế\u200c", "Bộ Y tế"),
        ("\ufeffĐề án 06", "Đề án 06"),
        ("Đề \u202eán\u202c 06", "Đề án 06"),  # bidi override hides reordered text
        ("chuyển\u00ad đổi \u2066số\u2069", "chuyển đổi số"),
    ],
)
def test_invisible_controls_are_stripped_in_normalisation(text, clean) -> None:
    assert strip_invisible(text) == clean
    assert match_form(text) == match_form(clean)


def test_nfd_input_is_composed_and_surrogates_are_repaired() -> None:
    assert nfc("Bo\u0302\u0323 Y te\u0302\u0301") == "Bộ Y tế"
    assert repair_unicode("Bộ \ud800") == "Bộ \ufffd"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/ask", LONE_SURROGATE_BODY),
        ("/v1/chat", '{"messages": [{"role": "user", "content": "B\\u1ed9 \\ud800"}]}'),
        (
            "/v1/chat/completions",
            '{"model": "hoidap", "messages": [{"role": "user", "content": "B\\u1ed9 \\udfff"}]}',
        ),
    ],
)
def test_a_lone_surrogate_is_a_clear_422_on_every_route(client, path, body) -> None:
    r = client.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_unicode"


def test_a_lone_surrogate_in_history_is_repaired_not_fatal(client) -> None:
    body = (
        '{"messages": [{"role": "user", "content": "\\udc00 Đề án 06"},'
        ' {"role": "assistant", "content": "x \\ud800"},'
        ' {"role": "user", "content": "Thủ tướng giao Bộ Tài chính nhiệm vụ gì?"}]}'
    )
    r = client.post("/v1/chat", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 200 and "event: final" in r.text


def test_zero_width_characters_do_not_change_the_answer(seed_assistant) -> None:
    plain = seed_assistant.ask("Thủ tướng giao Bộ Tài chính nhiệm vụ gì?")
    hidden = seed_assistant.ask("Thủ\u200b tướng giao Bộ \u200dTài chính\u202e nhiệm vụ gì?")
    assert hidden.answer == plain.answer and not hidden.refused


_HOSTILE = st.text(
    alphabet=st.one_of(
        st.characters(codec=None, categories=["Cs", "Cc", "Cf", "Mn", "Zs"]),
        st.sampled_from(list("Bộ Tài chính đề án 06 ?")),
    ),
    min_size=0,
    max_size=60,
)


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(question=_HOSTILE)
def test_arbitrary_unicode_is_answered_or_refused_clearly(seed_assistant, question) -> None:
    try:
        answer = seed_assistant.ask(question)
    except InvalidQuestion as exc:
        assert exc.code in ("empty_question", "invalid_unicode", "question_too_long")
        return
    assert answer.answer and isinstance(answer.refused, bool)
    answer.answer.encode("utf-8")  # what goes back to a client is valid UTF-8
