"""The server's request log and the gaps report built on it and on the stored feedback."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import httpx
import pytest
from support.access import log_in

from assistant.answering.assistant import Assistant
from assistant.cli import main
from assistant.web.api.config import ApiConfig
from assistant.web.api.keys import KeyStore
from assistant.web.api.thread_server import ServerThread
from assistant.web.feedback import FeedbackStore
from assistant.web.gaps import collect, group, report, to_cases
from assistant.web.request_log import RequestLog, log_path
from assistant.web.server import create_app
from evals.datasets import load_dataset
from index.config import Settings
from index.pipeline import run_index

PAGES = Path(__file__).resolve().parent / "data" / "pages"
SECRET_QUERY = "key=pk_should_never_be_logged"
ANSWERED = "Lâm Đồng có bao nhiêu hộ nông dân bán nông sản qua sàn thương mại điện tử?"
OFF_TOPIC = "Giá vé máy bay đi Đà Nẵng tháng sau là bao nhiêu?"


def _served(tmp_path: Path, **env: str):
    settings = Settings.load(
        env={"HOIDAP_HOME": str(tmp_path / "home"), "HOIDAP_EMBEDDER": "fake", **env}
    )
    run_index([PAGES], settings)
    server = ServerThread(create_app(settings, mount_ui=False, api_config=ApiConfig()))
    _, server.secret = KeyStore.for_home(settings.home).create_admin_key(name="logs")
    return settings, server


def _ask(srv: ServerThread, question: str) -> dict:
    auth = {"Authorization": f"Bearer {srv.secret}"}
    r = httpx.post(
        f"{srv.url}/v1/ask?{SECRET_QUERY}", json={"question": question}, headers=auth, timeout=60
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_requests_and_answers_are_logged_without_keys_or_question_text(tmp_path: Path) -> None:
    settings, server = _served(tmp_path)
    with server as srv:
        _ask(srv, ANSWERED)
        off = _ask(srv, OFF_TOPIC)
        auth = {"Authorization": f"Bearer {srv.secret}"}
        assert httpx.get(f"{srv.url}/nowhere", headers=auth, timeout=10).status_code == 404
        bad = httpx.post(
            f"{srv.url}/v1/ask",
            json={"question": ""},
            headers={"Authorization": "Bearer sk_secret_token"},
            timeout=10,
        )
        assert bad.status_code in (401, 422)
    path = log_path(settings)
    text = path.read_text(encoding="utf-8")
    assert path.stat().st_mode & 0o777 == 0o600
    for secret in (
        "pk_should_never_be_logged",
        "sk_secret_token",
        srv.secret,
        "Lâm Đồng",
        "máy bay",
    ):
        assert secret not in text
    records = [json.loads(line) for line in text.splitlines()]
    requests = [r for r in records if r["event"] == "request"]
    assert [(r["method"], r["path"]) for r in requests][:3] == [
        ("POST", "/v1/ask"),
        ("POST", "/v1/ask"),
        ("GET", "/nowhere"),
    ]
    assert [r["status"] for r in requests] == [200, 200, 404, bad.status_code]
    assert all(r["ms"] >= 0 and "T" in r["ts"] for r in requests)
    answers = [r for r in records if r["event"] == "answer"]
    assert [a["refused"] for a in answers] == [False, off["refused"]]
    assert answers[0]["sources"] == ["nong-nghiep-so.txt"]


def test_question_text_is_kept_only_when_asked_for(tmp_path: Path) -> None:
    settings, server = _served(tmp_path, HOIDAP_LOG_QUESTIONS="1")
    with server as srv:
        _ask(srv, ANSWERED)
    answers = [r for r in RequestLog.for_settings(settings).records() if r["event"] == "answer"]
    assert answers and answers[0]["question"] == ANSWERED


def test_the_log_rotates_and_keeps_one_older_file(tmp_path: Path) -> None:
    log = RequestLog(tmp_path / "logs" / "requests.jsonl", max_bytes=400)
    for i in range(20):
        log.request("GET", f"/p{i}", 200, 1.0)
    assert (tmp_path / "logs" / "requests.jsonl.1").is_file()
    assert log.path.stat().st_size <= 400
    paths = [r["path"] for r in log.records()]
    assert paths == sorted(paths, key=lambda p: int(p[2:]))  # older file first, in order
    assert paths[-1] == "/p19" and len(paths) < 20
    log.path.write_text('{"event": "request"}\nnot json\n', encoding="utf-8")
    assert {"event": "request"} in log.records()  # the damaged line is skipped


# -- the gaps report ---------------------------------------------------------------------
def _gap_data(settings: Settings) -> None:
    """Votes in a real SQLite feedback file and refusals in a real request log."""
    store = FeedbackStore.for_settings(settings)
    store.record("Tỉnh nào dẫn đầu chỉ số chuyển đổi số năm 2023?", "…", "[]", -1)
    store.record("tinh nao dan dau chi so chuyen doi so nam 2023", "…", "[]", -1)
    store.record("Đề án 06 là gì?", "Đề án 06 là …", "[]", 1)  # a thumbs-up is no gap
    log = RequestLog.for_settings(settings)
    log.log_questions = True

    @dataclasses.dataclass
    class Refusal:
        refused: bool = True
        mode: str = "extractive"
        citations: tuple = ()
        latency_ms: float = 12.0

    log.answer("Tỉnh nào đứng đầu chỉ số chuyển đổi số năm 2023?", Refusal())
    log.answer("Giá xăng hôm nay bao nhiêu?", Refusal())
    log.answer("Giá xăng hôm nay là bao nhiêu tiền?", Refusal())
    log.answer("Ai ký Quyết định 749?", Refusal(refused=False))  # answered: no gap
    log.write({"event": "answer", "refused": True})  # no question text: nothing to group


def test_gaps_group_similar_questions_with_counts_and_dates(tmp_path: Path) -> None:
    settings = Settings.load(env={"HOIDAP_HOME": str(tmp_path / "home")})
    _gap_data(settings)
    with sqlite3.connect(settings.home / "feedback.sqlite3") as conn:  # the real file
        assert conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 3
    assert len(collect(settings)) == 5
    gaps = report(settings)
    assert [g.count for g in gaps] == [3, 2]
    first, second = gaps
    assert dict(first.reasons) == {"thumbs_down": 2, "refused": 1}
    assert "chuyển đổi số" in first.representative or "chuyen doi so" in first.representative
    assert first.first <= first.last and first.first[:4] == first.last[:4]
    assert {q for q in second.questions} == {
        "Giá xăng hôm nay bao nhiêu?",
        "Giá xăng hôm nay là bao nhiêu tiền?",
    }
    assert group([]) == []


def test_gaps_export_as_eval_cases_and_run_from_the_cli(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOIDAP_HOME", str(home))
    settings = Settings.load(env={"HOIDAP_HOME": str(home)})
    _gap_data(settings)
    out = tmp_path / "gaps.jsonl"
    assert main(["report", "gaps", "--json", "--export", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [g["count"] for g in printed["groups"]] == [3, 2]
    dataset = load_dataset(out)
    assert [item.question for item in dataset.items] == [
        c["question"] for c in to_cases(report(settings))
    ]
    assert main(["report", "gaps"]) == 0
    assert "2 nhóm câu hỏi" in capsys.readouterr().out


@pytest.fixture
def gap_server(tmp_path: Path):
    settings = Settings.load(env={"HOIDAP_HOME": str(tmp_path / "home"), "HOIDAP_EMBEDDER": "fake"})
    _gap_data(settings)
    app = create_app(settings, Assistant(settings), mount_ui=False, api_config=ApiConfig())
    with ServerThread(app) as srv:
        srv.settings = settings
        yield srv


def test_the_admin_gaps_route_needs_an_admin_key_or_the_login_link(gap_server) -> None:
    srv = gap_server
    assert httpx.get(f"{srv.url}/v1/admin/gaps", timeout=30).status_code == 401  # loopback alone
    with httpx.Client(base_url=srv.url, timeout=30) as operator:
        log_in(operator, srv.app)
        local = operator.get("/v1/admin/gaps")
        assert local.status_code == 200 and [g["count"] for g in local.json()["groups"]] == [3, 2]
    keys = KeyStore.for_home(srv.settings.home)
    _, secret = keys.create_admin_key(name="editor")
    widget = keys.create_widget_key(["https://portal.example"], rate="30/min")
    assert httpx.get(f"{srv.url}/v1/admin/gaps", timeout=30).status_code == 401
    as_widget = httpx.get(
        f"{srv.url}/v1/admin/gaps",
        headers={"X-Hoidap-Key": widget.key, "Origin": "https://portal.example"},
        timeout=30,
    )
    assert as_widget.status_code == 403
    ok = httpx.get(
        f"{srv.url}/v1/admin/gaps", headers={"Authorization": f"Bearer {secret}"}, timeout=30
    )
    assert ok.status_code == 200 and ok.json()["groups"][0]["count"] == 3


def test_terminal_escapes_in_a_public_question_are_printed_as_text(
    gap_server, capsys, monkeypatch
) -> None:
    """A widget key posts a question full of escape sequences through the real server;
    `hoidap report gaps` shows them as text and sends none to the terminal."""
    srv = gap_server
    monkeypatch.setenv("HOIDAP_HOME", str(srv.settings.home))
    widget = KeyStore.for_home(srv.settings.home).create_widget_key(["https://portal.example"])
    hostile = "\u001b[2J\u001b[31mRED\u009b31m\u202egiá xăng\rbao nhiêu"
    r = httpx.post(
        f"{srv.url}/v1/feedback",
        json={"question": hostile, "answer": "…", "rating": -1},
        headers={"X-Hoidap-Key": widget.key, "Origin": "https://portal.example"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert main(["report", "gaps"]) == 0
    out = capsys.readouterr().out
    for raw in ("\u001b", "\u009b", "\u202e", "\r"):
        assert raw not in out
    assert "\\x1b[2J\\x1b[31mRED\\x9b31m\\u202egiá xăng" in out
    assert main(["report", "gaps", "--json"]) == 0  # the JSON form too, still valid JSON
    out = capsys.readouterr().out
    for raw in ("\u001b", "\u009b", "\u202e", "\r"):
        assert raw not in out
    questions = [g["question"] for g in json.loads(out)["groups"]]
    assert any(q.startswith("\u001b[2J\u001b[31mRED\u009b31m\u202egiá xăng") for q in questions)
