"""Honest readiness and public errors: a damaged vector index is reported by /readyz, and
what users see of a server-side failure is a request id, never a path or a store message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from assistant.answering.assistant import Assistant
from assistant.web.api.config import ApiConfig
from assistant.web.api.keys import KeyStore
from assistant.web.api.thread_server import ServerThread
from assistant.web.server import create_app
from index.config import Settings
from index.pipeline import run_index

pytestmark = [pytest.mark.server, pytest.mark.slow]

PAGES = Path(__file__).resolve().parent / "data" / "pages"
QUESTION = {"question": "Lâm Đồng có bao nhiêu hộ nông dân bán nông sản qua sàn?"}


def _settings(tmp_path: Path) -> Settings:
    env = {"HOIDAP_HOME": str(tmp_path / "home"), "HOIDAP_EMBEDDER": "fake"}
    return Settings.load(env=env)


def _index_elsewhere(settings: Settings, folder: Path) -> None:
    """`hoidap index` in its own process, as in production (the server opens the store
    fresh, not from this process's cache)."""
    env = {**os.environ, "HOIDAP_HOME": str(settings.home), "HOIDAP_EMBEDDER": "fake"}
    code = f"from assistant.cli import main; raise SystemExit(main(['index', {str(folder)!r}]))"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)


def _served(settings: Settings) -> tuple[ServerThread, dict]:
    _, secret = KeyStore.for_home(settings.home).create_admin_key()
    app = create_app(settings, Assistant(settings), mount_ui=False, api_config=ApiConfig())
    return ServerThread(app), {"Authorization": f"Bearer {secret}"}


def test_a_healthy_index_is_ready(tmp_path) -> None:
    settings = _settings(tmp_path)
    run_index([PAGES], settings)
    server, _ = _served(settings)
    with server as srv:
        r = httpx.get(f"{srv.url}/readyz", timeout=30)
        assert r.status_code == 200 and r.json()["ok"] is True and r.json()["chunks"] > 0


_PROBE = """
import json, logging, sys
import httpx
from index.config import Settings
from tests.test_readiness import _served
records = []
logging.getLogger().addHandler(type("H", (logging.Handler,), {"emit": lambda s, r: records.append(r.getMessage())})())
settings = Settings.load(env={"HOIDAP_HOME": sys.argv[1], "HOIDAP_EMBEDDER": "fake"})
server, auth = _served(settings)
with server as srv:
    ready = httpx.get(f"{srv.url}/readyz", timeout=30)
    r = httpx.post(f"{srv.url}/v1/ask", json=json.loads(sys.argv[2]), headers=auth, timeout=60)
print(json.dumps({"ready": [ready.status_code, ready.json()], "ask": [r.status_code, r.text],
                  "log": records}))
"""


def test_truncated_vector_files_are_not_ready_and_errors_show_only_a_request_id(
    tmp_path,
) -> None:
    # Enough articles for the store to move its vectors from its log into the vector
    # index files, then those files cut short: counting still works, reading vectors not.
    # The server runs in its own process, as in production: the store's native code reads
    # the damaged files, and a crash there must not take the test run with it.
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(1200):
        (docs / f"bai-{i:04d}.txt").write_text(
            f"Tin số {i}\n\nTỉnh thứ {i} đã triển khai {i * 7} dịch vụ công trực tuyến năm "
            f"2023 với {i * 13} hồ sơ được xử lý. Đây là bài số {i} về chuyển đổi số.",
            encoding="utf-8",
        )
    settings = _settings(tmp_path)
    _index_elsewhere(settings, docs)
    vectors = max(settings.home.rglob("data_level0.bin"), key=lambda p: p.stat().st_size)
    os.truncate(vectors, 1000)
    os.truncate(vectors.with_name("link_lists.bin"), 0)
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE, str(settings.home), json.dumps(QUESTION)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    (ready_status, ready), (status, shown) = result["ready"], result["ask"]
    assert ready_status == 503 and ready["ok"] is False
    assert ready["error"] == "vector_index_unreadable"
    assert status == 503
    for secret in (str(settings.home), "chroma", "sqlite", "Traceback", ".bin"):
        assert secret.lower() not in shown.lower(), secret
    error = json.loads(shown)["error"]
    rid = error["message"].rsplit("mã yêu cầu ", 1)[1].rstrip(".")
    assert len(rid) == 12 and rid in error["message_en"]
    assert any(rid in line for line in result["log"])  # the detail is in the server's log
