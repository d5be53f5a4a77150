"""BM25 over syllables + syllable bigrams, with an accented and a diacritic-folded field.

Lower-cased syllables plus bigrams beat word segmentation for Vietnamese QA retrieval,
and the folded field keeps queries typed without accents working. The index is
derived data: it is rebuilt from the Chroma store whenever its fingerprint (a hash
of the stored chunk ids) no longer matches, and written atomically.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from scipy import sparse

from index.normalize import fold, lexical_terms, syllables
from index.private import private_dir
from index.types import Chunk

FIELDS = ("accented", "folded")
FORMAT_VERSION = 2


def fingerprint(chunk_ids: Iterable[str]) -> str:
    h = hashlib.sha256()
    for cid in sorted(chunk_ids):
        h.update(cid.encode())
        h.update(b"\n")
    return h.hexdigest()


def index_text(chunk: Chunk) -> str:
    """What the lexical index sees: the title once, then the passage."""
    return f"{chunk.title}\n{chunk.text}"


class BM25Field:
    """Okapi BM25 (Lucene-style idf) as a sparse term x document weight matrix.

    Each (term, document) weight is computed once at build time, so a query is a sum of
    a few sparse rows (numpy/scipy) instead of a Python loop over posting lists: at tens
    of thousands of chunks that loop was most of an ``ask``.
    b=0.9 (stronger length normalisation than the usual 0.75) measured better on both
    ViMedAQA and ALQAC (evals/README.md).
    """

    def __init__(self, docs_terms: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.9):
        self.k1, self.b = k1, b
        self.vocab: dict[str, int] = {}
        rows, cols, tfs = [], [], []
        lengths = np.zeros(len(docs_terms), dtype=np.float64)
        for doc, terms in enumerate(docs_terms):
            lengths[doc] = len(terms)
            for term, tf in Counter(terms).items():
                rows.append(self.vocab.setdefault(term, len(self.vocab)))
                cols.append(doc)
                tfs.append(tf)
        self.n_docs = len(docs_terms)
        self.avgdl = float(lengths.mean()) if self.n_docs else 0.0
        tf = np.asarray(tfs, dtype=np.float64)
        doc = np.asarray(cols, dtype=np.int64)
        term = np.asarray(rows, dtype=np.int64)
        df = np.bincount(term, minlength=len(self.vocab)).astype(np.float64)
        self._idf = np.log(1 + (self.n_docs - df + 0.5) / (df + 0.5))
        norm = k1 * (1 - b + b * lengths[doc] / (self.avgdl or 1.0))
        weight = self._idf[term] * tf * (k1 + 1) / (tf + norm)
        self.matrix = sparse.csr_matrix(
            (weight.astype(np.float32), (term, doc)), shape=(len(self.vocab), self.n_docs)
        )

    @property
    def idf(self) -> dict[str, float]:
        """IDF per known term."""
        return {t: float(self._idf[i]) for t, i in self.vocab.items()}

    def term_idf(self, term: str) -> float | None:
        i = self.vocab.get(term)
        return None if i is None else float(self._idf[i])

    def score_array(self, query_terms: Sequence[str]) -> np.ndarray:
        """BM25 of every document (0 where no query term occurs)."""
        counts = Counter(t for t in query_terms if t in self.vocab)
        if not counts or not self.n_docs:
            return np.zeros(self.n_docs, dtype=np.float64)
        ids = np.fromiter((self.vocab[t] for t in counts), dtype=np.int64)
        qtf = np.fromiter(counts.values(), dtype=np.float64)
        return np.asarray(self.matrix[ids].T @ qtf, dtype=np.float64).ravel()

    def scores(self, query_terms: Sequence[str]) -> dict[int, float]:
        """BM25 of the documents that hold at least one query term."""
        counts = Counter(t for t in query_terms if t in self.vocab)
        if not counts:
            return {}
        ids = [self.vocab[t] for t in counts]
        hit = np.unique(self.matrix[ids].indices)
        values = self.score_array(query_terms)
        return {int(d): float(values[d]) for d in hit}

    def top(self, query_terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        """The ``k`` best documents holding a query term: by score, then document order."""
        values = self.score_array(query_terms)
        counts = [self.vocab[t] for t in set(query_terms) if t in self.vocab]
        if not counts:
            return []
        hit = np.unique(self.matrix[counts].indices)
        if len(hit) > k:
            part = np.argpartition(-values[hit], k - 1)[:k]
            cut = values[hit][part].min()
            hit = hit[values[hit] >= cut]  # keep ties at the cut, ordered below
        order = sorted(hit.tolist(), key=lambda d: (-values[d], d))[:k]
        return [(int(d), float(values[d])) for d in order]


class LexicalIndex:
    """Two BM25 fields over the same chunks, plus a corpus table for restoring diacritics."""

    def __init__(self, chunk_ids: Sequence[str], texts: Sequence[str]):
        self.chunk_ids = list(chunk_ids)
        self.texts = list(texts)
        self.fingerprint = fingerprint(self.chunk_ids)
        self.fields = {
            "accented": BM25Field([lexical_terms(t) for t in self.texts]),
            "folded": BM25Field([lexical_terms(t, folded=True) for t in self.texts]),
        }
        self._build_restoration_table()

    @classmethod
    def from_chunks(cls, chunks: Sequence[Chunk]) -> LexicalIndex:
        return cls([c.chunk_id for c in chunks], [index_text(c) for c in chunks])

    def __len__(self) -> int:
        return len(self.chunk_ids)

    # -- search --------------------------------------------------------------------
    def search(self, query: str, k: int = 20, field: str = "accented") -> list[tuple[str, float]]:
        """Top-k (chunk_id, bm25) for the query on one field."""
        if field not in self.fields:
            raise ValueError(f"unknown lexical field {field!r}; choose one of {FIELDS}")
        terms = lexical_terms(query, folded=(field == "folded"))
        return [(self.chunk_ids[i], s) for i, s in self.fields[field].top(terms, k)]

    def idf(self, term: str, field: str = "accented") -> float:
        """IDF of a term (an unseen term gets the maximum idf)."""
        known = self.fields[field].term_idf(term)
        n = len(self.chunk_ids)
        return known if known is not None else math.log(1 + (n + 0.5) / 0.5)

    def phrase_count(self, phrase: str) -> int:
        """How many chunks contain ``phrase`` (match form, whole syllables)."""
        if not hasattr(self, "_forms"):
            self._forms = [" " + " ".join(syllables(t)) + " " for t in self.texts]
        key = " " + " ".join(syllables(phrase)) + " "
        return sum(1 for f in self._forms if key in f) if key.strip() else 0

    # -- diacritic restoration -------------------------------------------------------
    def _build_restoration_table(self) -> None:
        uni: dict[str, Counter] = defaultdict(Counter)
        bi: dict[tuple[str, str], Counter] = defaultdict(Counter)
        for text in self.texts:
            sylls = syllables(text)
            for s in sylls:
                uni[fold(s)][s] += 1
            for a, b in zip(sylls, sylls[1:], strict=False):
                bi[(fold(a), fold(b))][(a, b)] += 1
        self._uni = uni
        self._bi = bi

    def restore_diacritics(self, query: str) -> str:
        """Best-guess accented form of an accent-free query, from the corpus' own usage.

        Each syllable takes the accented form seen most often next to its neighbours
        (bigrams), falling back to its most frequent form alone; unknown syllables stay.
        """
        words = syllables(query)
        if not words:
            return query
        folded = [fold(w) for w in words]
        out = []
        for i, f in enumerate(folded):
            votes: Counter = Counter()
            if i > 0:
                for (_, b), c in self._bi.get((folded[i - 1], f), Counter()).items():
                    votes[b] += c * 3
            if i + 1 < len(folded):
                for (a, _), c in self._bi.get((f, folded[i + 1]), Counter()).items():
                    votes[a] += c * 3
            if not votes:
                votes = self._uni.get(f, Counter())
            out.append(votes.most_common(1)[0][0] if votes else words[i])
        return " ".join(out)

    # -- persistence -----------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write atomically: a crash never leaves a half-written index."""
        private_dir(path.parent)
        payload = {
            "format": FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "chunk_ids": self.chunk_ids,
            "texts": self.texts,
        }
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # article text: owner only
        with os.fdopen(fd, "wb") as raw, gzip.open(raw, "wt", encoding="utf-8") as fh:
            json.dump(payload, fh, ensure_ascii=False)
        os.replace(tmp, path)
        _remove_orphans(path)

    @classmethod
    def load(cls, path: Path) -> LexicalIndex | None:
        """The saved index, or None (rebuild it) when it is missing, unreadable, of another
        format or not shaped like one: valid gzip and JSON is not enough."""
        try:
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                payload = json.load(fh)
        except (OSError, ValueError, EOFError):
            return None
        if not _well_formed(payload):
            return None
        return cls(payload["chunk_ids"], payload["texts"])


def _well_formed(payload) -> bool:
    """This version's shape: parallel lists of chunk ids and texts, all strings."""
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
        return False
    ids, texts = payload.get("chunk_ids"), payload.get("texts")
    return (
        isinstance(ids, list)
        and isinstance(texts, list)
        and len(ids) == len(texts)
        and all(isinstance(x, str) for x in ids)
        and all(isinstance(x, str) for x in texts)
    )


def _remove_orphans(path: Path) -> None:
    """Delete temp files left by writers that were killed before their rename."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        pid = tmp.name[len(path.name) + 2 : -len(".tmp")]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
