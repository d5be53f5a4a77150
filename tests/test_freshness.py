"""A running assistant answers from what `hoidap index` adds later, without a restart.

`hoidap index` runs in a separate process, as it does next to `hoidap serve`, against the
embedded store and against a real `chroma run` server; the assistant notices the store's
new generation and reloads the store, the lexical index and its caches.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

import assistant.answering.assistant as pipeline
from assistant.answering.assistant import Assistant
from index.config import Settings
from index.pipeline import run_index
from index.store import ChunkStore
from tests.test_chroma_server import chroma_url  # noqa: F401  (the `chroma run` fixture)

ROOT = Path(__file__).resolve().parents[1]
HOIDAP = ROOT / ".venv" / "bin" / "hoidap"
PAGES = Path(__file__).resolve().parent / "data" / "pages"

NEW_ARTICLE = """Ngư dân Cà Mau bán tôm hùm qua sàn Biển Số

Cà Mau, ngày 12/10/2023

Từ tháng 9, hợp tác xã Rạch Gốc đưa tôm hùm và cua biển lên sàn thương mại điện tử Biển Số.
Mỗi tuần hợp tác xã bán được khoảng 800 ki-lô-gam hải sản cho khách ở Thành phố Hồ Chí Minh.
"""
QUESTION = "Hợp tác xã Rạch Gốc bán tôm hùm qua sàn nào?"


def _env(settings: Settings) -> dict[str, str]:
    env = {**os.environ, "HOIDAP_HOME": str(settings.home), "HOIDAP_EMBEDDER": "fake"}
    env["HOIDAP_COLLECTION"] = settings.collection
    if settings.chroma_url:
        env["HOIDAP_CHROMA_URL"] = settings.chroma_url
    return env


def _cited_sources(assistant: Assistant) -> set[str]:
    answer = assistant.ask(QUESTION)
    return set() if answer.refused else {c.source for c in answer.citations}


def _answered_from_the_new_article_without_restart(settings: Settings, tmp_path: Path) -> None:
    run_index([PAGES], settings)
    assistant = Assistant(settings)
    assert "ca-mau.txt" not in _cited_sources(assistant)
    generation = ChunkStore(settings, "fake").generation()
    articles = tmp_path / "new"
    articles.mkdir()
    (articles / "ca-mau.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    done = subprocess.run(
        [str(HOIDAP), "index", str(articles)],
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert ChunkStore(settings, "fake").generation() != generation
    deadline = time.monotonic() + 15
    while "ca-mau.txt" not in _cited_sources(assistant):
        assert time.monotonic() < deadline, "the running assistant never saw the new article"
        time.sleep(0.2)
    answer = assistant.ask(QUESTION)
    assert "Biển Số" in answer.answer
    # The dense side sees it too (an embedded store's vector index had to be re-read).
    vector = assistant.embedder.embed_query(QUESTION)
    assert "ca-mau.txt" in {c.source for c, _ in assistant.store.query(vector, 3)}
    # The earlier articles are still there after the reload.
    assert assistant.retriever.chunk(
        assistant.ask("Nông dân bán rau qua đâu?").citations[0].chunk_id
    )


def _settings(home: Path, **env: str) -> Settings:
    return Settings.load(
        env={
            "HOIDAP_HOME": str(home),
            "HOIDAP_EMBEDDER": "fake",
            "HOIDAP_REFRESH_SECONDS": "0.2",
            "HOIDAP_REFUSAL_THRESHOLD": "0",  # freshness is tested here, not refusal
            **env,
        }
    )


def test_embedded_store_new_articles_are_answered_without_restart(tmp_path: Path) -> None:
    _answered_from_the_new_article_without_restart(_settings(tmp_path / "home"), tmp_path)


@pytest.mark.server
@pytest.mark.slow
def test_chroma_server_new_articles_are_answered_without_restart(
    tmp_path: Path,
    chroma_url: str,  # noqa: F811
) -> None:
    settings = _settings(
        tmp_path / "home", HOIDAP_CHROMA_URL=chroma_url, HOIDAP_COLLECTION="freshness"
    )
    _answered_from_the_new_article_without_restart(settings, tmp_path)


def test_an_unchanged_store_is_not_reloaded(tmp_path: Path, monkeypatch) -> None:
    settings = _settings(tmp_path / "home")
    run_index([PAGES], settings)
    assistant = Assistant(settings)
    assistant.ask(QUESTION)
    loads = []
    real = pipeline.load_lexical
    monkeypatch.setattr(pipeline, "load_lexical", lambda *a, **k: loads.append(1) or real(*a, **k))
    time.sleep(0.3)
    assert assistant.refresh() is False
    run_index([PAGES], settings)  # nothing to do: the generation stays
    time.sleep(0.3)
    assert assistant.refresh() is False and loads == []


def test_many_first_questions_at_once_build_one_retriever(tmp_path: Path, monkeypatch) -> None:
    """API workers share one Assistant: simultaneous first requests must not each load
    (or half-load) the store and the lexical index."""
    settings = _settings(tmp_path / "home")
    run_index([PAGES], settings)
    assistant = Assistant(settings)
    loads = []
    real = pipeline.load_lexical

    def slow_load(*args, **kwargs):
        loads.append(threading.get_ident())
        time.sleep(0.3)  # widen the window in which the others arrive
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "load_lexical", slow_load)
    start = threading.Barrier(12)
    answers, errors = [], []

    def ask() -> None:
        start.wait()
        try:
            answers.append(assistant.ask("Nông dân bán rau qua đâu?"))
        except Exception as exc:  # collected: a thread's exception would be lost
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == [] and len(answers) == 12
    assert len(loads) == 1
    assert len({a.answer for a in answers}) == 1
