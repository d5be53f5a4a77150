"""Server mode: index into a real `chroma run` on loopback through HOIDAP_CHROMA_URL."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from index.config import Settings
from index.errors import EmbedderMismatch, StoreUnavailable
from index.pipeline import lexical_path, load_lexical, run_index
from index.store import ChunkStore

pytestmark = [pytest.mark.server, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
CHROMA = ROOT / ".venv" / "bin" / "chroma"
HOIDAP = ROOT / ".venv" / "bin" / "hoidap"
PAGES = Path(__file__).resolve().parent / "data" / "pages"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory) -> Iterator[str]:
    """A `chroma run` server on a free loopback port, killed at the end of the module."""
    if not CHROMA.exists():
        pytest.fail(f"{CHROMA} is missing; install chromadb into .venv")
    data = tmp_path_factory.mktemp("chroma-server")
    port = _free_port()
    log = (data / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            str(CHROMA),
            "run",
            "--path",
            str(data / "db"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"chroma run did not start: {(data / 'server.log').read_text()[-2000:]}"
                )
            time.sleep(0.2)
        yield url
    finally:
        proc.kill()
        proc.wait(timeout=10)
        log.close()


def _settings(home: Path, url: str, collection: str) -> Settings:
    return Settings.load(
        env={
            "HOIDAP_HOME": str(home),
            "HOIDAP_EMBEDDER": "fake",
            "HOIDAP_CHROMA_URL": url,
            "HOIDAP_COLLECTION": collection,
        }
    )


def test_index_into_a_chroma_server_incrementally(chroma_url: str, tmp_path: Path) -> None:
    settings = _settings(tmp_path / "home", chroma_url, "server-incremental")
    first = run_index([PAGES], settings)
    assert first.store == chroma_url
    assert first.files == 4 and first.new == first.chunks > 0
    assert not settings.store_dir.exists()  # nothing embedded locally
    second = run_index([PAGES], settings)
    assert (second.new, second.unchanged, second.removed) == (0, first.chunks, 0)

    store = ChunkStore(settings, first.embedder)
    assert store.count() == first.chunks
    assert store.stored_embedder() == first.embedder
    # The lexical index is derived from the server's data and can be rebuilt from it.
    lexical_path(settings).unlink()
    lex = load_lexical(store, settings)
    assert len(lex) == first.chunks
    top_id, _ = lex.search("chuyen doi so nong nghiep", k=1, field="folded")[0]
    assert (
        next(c for c in store.all_chunks() if c.chunk_id == top_id).source == "nong-nghiep-so.txt"
    )


def test_server_collection_refuses_another_embedder(chroma_url: str, tmp_path: Path) -> None:
    settings = _settings(tmp_path / "home", chroma_url, "server-mismatch")
    run_index([PAGES / "thue-dien-tu.txt"], settings)
    other = dataclasses.replace(settings, embedder="fake:64")
    with pytest.raises(EmbedderMismatch, match="fake:hashing-256"):
        run_index([PAGES / "thue-dien-tu.txt"], other)
    rebuilt = run_index([PAGES / "thue-dien-tu.txt"], other, rebuild=True)
    assert rebuilt.embedder == "fake:hashing-64" and rebuilt.new == rebuilt.chunks > 0


def test_cli_indexes_into_the_server(chroma_url: str, tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HOIDAP_")},
        "HOIDAP_HOME": str(tmp_path / "home"),
        "HOIDAP_EMBEDDER": "fake",
        "HOIDAP_CHROMA_URL": chroma_url,
        "HOIDAP_COLLECTION": "server-cli",
    }
    result = subprocess.run(
        [str(HOIDAP), "index", str(PAGES), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["store"] == chroma_url and summary["files"] == 4


def test_a_stopped_server_is_a_clear_error(tmp_path: Path) -> None:
    port = _free_port()  # nothing listens there
    settings = _settings(tmp_path / "home", f"http://127.0.0.1:{port}", "server-down")
    with pytest.raises(StoreUnavailable) as info:
        run_index([PAGES], settings)
    assert f"127.0.0.1:{port}" in info.value.message_en
    assert "chroma run" in info.value.message_en
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HOIDAP_")},
        "HOIDAP_HOME": str(tmp_path / "home"),
        "HOIDAP_EMBEDDER": "fake",
        "HOIDAP_CHROMA_URL": f"http://127.0.0.1:{port}",
    }
    result = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "index", str(PAGES)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "store_unavailable" in result.stderr and "Traceback" not in result.stderr
