"""Work per request is bounded: long questions are capped for retrieval and cost more units."""

from __future__ import annotations

import dataclasses

from fastapi.testclient import TestClient

from assistant.answering.assistant import query_text, question_cost
from assistant.web.api.config import ApiConfig
from assistant.web.api.keys import KeyStore
from assistant.web.server import create_app

LOOPBACK = ("127.0.0.1", 50000)
SHORT = "Thủ tướng giao Bộ Tài chính nhiệm vụ gì?"
LONG = " ".join(["Bộ Tài chính triển khai hóa đơn điện tử như thế nào"] * 30) + "?"


def test_the_query_is_capped_to_its_first_words() -> None:
    assert query_text(SHORT, 48) == SHORT
    capped = query_text(LONG, 48)
    assert capped.split() == LONG.split()[:48]


def test_a_question_costs_one_to_three_units_by_its_length() -> None:
    assert question_cost(SHORT, 48) == 1.0
    assert question_cost(LONG, 48) == 3.0
    assert 1.0 < question_cost(" ".join(["từ"] * 36), 48) < 3.0


def test_a_long_question_is_answered_from_its_capped_query(seed_assistant) -> None:
    long_question = SHORT + " " + " ".join(["Bộ Tài chính làm gì về hóa đơn điện tử?"] * 40)
    assert len(long_question.split()) > 48
    capped = query_text(long_question, seed_assistant.settings.max_query_words)
    full, cut = seed_assistant.ask(long_question), seed_assistant.ask(capped)
    assert (full.answer, full.refused) == (cut.answer, cut.refused)
    assert [c.chunk_id for c in full.citations] == [c.chunk_id for c in cut.citations]


def test_limits_charge_long_questions_by_their_cost(seed_settings, seed_assistant, tmp_path):
    settings = dataclasses.replace(seed_settings, home=tmp_path)
    app = create_app(
        settings, seed_assistant, api_config=ApiConfig(ip_rate="6/min"), mount_ui=False
    )
    _, secret = KeyStore.for_home(settings.home).create_admin_key()
    auth = {"Authorization": f"Bearer {secret}"}
    client = TestClient(app, base_url="http://localhost", client=LOOPBACK, headers=auth)
    long_statuses = [client.post("/v1/ask", json={"question": LONG}).status_code for _ in range(3)]
    assert long_statuses == [200, 200, 429]  # 3 units each from a bucket of 6

    app = create_app(
        settings, seed_assistant, api_config=ApiConfig(ip_rate="6/min"), mount_ui=False
    )
    client = TestClient(app, base_url="http://localhost", client=LOOPBACK, headers=auth)
    short = [client.post("/v1/ask", json={"question": SHORT}).status_code for _ in range(6)]
    assert short == [200] * 6
