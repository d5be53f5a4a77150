"""BM25 over syllables + syllable bigrams, with an accented and a diacritic-folded field.

Lower-cased syllables plus bigrams beat word segmentation for Vietnamese QA retrieval,
and the folded field keeps queries typed without accents working. The index is
derived data: when its fingerprint (a hash of the stored chunk ids) no longer matches
the Chroma store it is brought up to date from the chunks that were added or removed
(rebuilt when unreadable), and it is written atomically, tokenized.
"""

from __future__ import annotations

import hashlib
import math
import os
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from scipy import sparse

from index.accents import QuestionPrior, SyllableCounts, question_prior, restore
from index.normalize import lexical_terms, match_form, syllables, terms_of_form
from index.private import private_dir
from index.types import Chunk

FIELDS = ("accented", "folded")
FORMAT_VERSION = 3


def fingerprint(chunk_ids: Iterable[str]) -> str:
    h = hashlib.sha256()
    for cid in sorted(chunk_ids):
        h.update(cid.encode())
        h.update(b"\n")
    return h.hexdigest()


def index_text(chunk: Chunk) -> str:
    """What the lexical index sees: the title once, then the passage."""
    return f"{chunk.title}\n{chunk.text}"


WEIGHT_BLOCK = 1 << 20  # stored counts weighted at a time (bounds the float64 temporaries)


class BM25Field:
    """Okapi BM25 (Lucene-style idf) as a sparse term x document weight matrix.

    The raw term counts are kept (``tf``, saved with the index, so loading never
    re-tokenizes the corpus, and chunks can be added or removed without recounting the
    rest); each (term, document) weight is computed from them once, so a query is a sum of
    a few sparse rows instead of a Python loop over posting lists.
    b=0.9 (stronger length normalisation than the usual 0.75) measured better on both
    ViMedAQA and ALQAC (evals/README.md).
    """

    def __init__(self, docs_terms: Iterable[Sequence[str]] = (), k1: float = 1.2, b: float = 0.9):
        vocab: dict[str, int] = {}
        self._set(_count_matrix(docs_terms, vocab), vocab, k1, b)

    @classmethod
    def from_counts(
        cls, tf: sparse.csr_matrix, vocab: dict[str, int], k1: float = 1.2, b: float = 0.9
    ) -> BM25Field:
        field = cls.__new__(cls)
        field._set(tf, vocab, k1, b)
        return field

    def _set(self, tf: sparse.csr_matrix, vocab: dict[str, int], k1: float, b: float) -> None:
        self.k1, self.b = k1, b
        self.vocab = vocab
        self.tf = tf
        self.n_docs = tf.shape[1]
        tf.sum_duplicates()  # canonical: one stored entry per (term, document), sorted
        lengths = _column_sums(tf)
        self.avgdl = float(lengths.mean()) if self.n_docs else 0.0
        df = np.diff(tf.indptr).astype(np.float64)  # documents per term
        if len(df) < len(vocab):
            df = np.concatenate([df, np.zeros(len(vocab) - len(df))])
        self._idf = np.log(1 + (self.n_docs - df + 0.5) / (df + 0.5))
        self.matrix = sparse.csr_matrix(
            (self._weights(tf, lengths, k1, b), tf.indices, tf.indptr), shape=tf.shape, copy=False
        )
        self.totals = _row_sums(tf)  # occurrences per term

    def _weights(self, tf: sparse.csr_matrix, lengths: np.ndarray, k1: float, b: float):
        """BM25 weight of every stored (term, document) count, in blocks of terms.

        The weight matrix shares the counts' sparsity structure (same indices and indptr),
        and each block's float64 temporaries are freed before the next: computing all at
        once took about eight times the counts' size (1.5 GB a field at 100 k chunks).
        """
        weight = np.empty(tf.nnz, dtype=np.float32)
        norm_of = k1 * (1 - b + b * lengths / (self.avgdl or 1.0))
        rows = np.diff(tf.indptr)
        block = WEIGHT_BLOCK
        start_row = 0
        while start_row < tf.shape[0]:
            lo = tf.indptr[start_row]
            end_row = int(np.searchsorted(tf.indptr, lo + block, side="right")) - 1
            end_row = max(end_row, start_row + 1)
            hi = tf.indptr[min(end_row, tf.shape[0])]
            counts = tf.data[lo:hi].astype(np.float64)
            idf = np.repeat(self._idf[start_row:end_row], rows[start_row:end_row])
            norm = norm_of[tf.indices[lo:hi]]
            weight[lo:hi] = idf * counts * (k1 + 1) / (counts + norm)
            start_row = end_row
        return weight

    def changed(self, keep: np.ndarray, docs_terms: Iterable[Sequence[str]]) -> BM25Field:
        """This field with the documents where ``keep`` is False removed and new ones appended."""
        vocab = dict(self.vocab)
        added = _count_matrix(docs_terms, vocab)
        kept = self.tf[:, np.flatnonzero(keep)]
        kept.resize((len(vocab), kept.shape[1]))
        added.resize((len(vocab), added.shape[1]))
        tf = sparse.hstack([kept, added], format="csr", dtype=np.int32)
        return BM25Field.from_counts(tf, vocab, self.k1, self.b)

    @property
    def idf(self) -> dict[str, float]:
        """IDF per known term."""
        return {t: float(self._idf[i]) for t, i in self.vocab.items()}

    def term_idf(self, term: str) -> float | None:
        i = self.vocab.get(term)
        return None if i is None else float(self._idf[i])

    def documents_with(self, term: str) -> np.ndarray:
        """Indices of the documents holding ``term``."""
        i = self.vocab.get(term)
        if i is None:
            return np.zeros(0, dtype=np.int32)
        return self.tf.indices[self.tf.indptr[i] : self.tf.indptr[i + 1]]

    def score_array(self, query_terms: Sequence[str]) -> np.ndarray:
        """BM25 of every document (0 where no query term occurs)."""
        counts = Counter(t for t in query_terms if t in self.vocab)
        if not counts or not self.n_docs:
            return np.zeros(self.n_docs, dtype=np.float64)
        ids = np.fromiter((self.vocab[t] for t in counts), dtype=np.int64)
        qtf = np.fromiter(counts.values(), dtype=np.float64)
        return np.asarray(self.matrix[ids].T @ qtf, dtype=np.float64).ravel()

    def scores(self, query_terms: Sequence[str]) -> dict[int, float]:
        """BM25 of the documents that hold at least one query term (every weight is > 0, so
        those are exactly the documents scoring above 0)."""
        values = self.score_array(query_terms)
        return {int(d): float(values[d]) for d in np.flatnonzero(values)}

    def top(self, query_terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        """The ``k`` best documents holding a query term: by score, then document order."""
        values = self.score_array(query_terms)
        hit = np.flatnonzero(values)
        if len(hit) > k:
            part = np.argpartition(-values[hit], k - 1)[:k]
            cut = values[hit][part].min()
            hit = hit[values[hit] >= cut]  # keep ties at the cut, ordered below
        order = sorted(hit.tolist(), key=lambda d: (-values[d], d))[:k]
        return [(int(d), float(values[d])) for d in order]


def _column_sums(tf: sparse.csr_matrix) -> np.ndarray:
    """Each document's length (float64), a block of counts at a time: scipy's ``sum``
    first copies every count to int64 (230 MB at 100 k chunks)."""
    lengths = np.zeros(tf.shape[1], dtype=np.float64)
    for lo in range(0, tf.nnz, WEIGHT_BLOCK):
        hi = lo + WEIGHT_BLOCK
        lengths += np.bincount(tf.indices[lo:hi], tf.data[lo:hi], minlength=tf.shape[1])
    return lengths


def _row_sums(tf: sparse.csr_matrix) -> np.ndarray:
    """Each term's occurrences (int64), a block of rows at a time: numpy's reductions
    otherwise copy every int32 count to int64 first."""
    totals = np.zeros(tf.shape[0], dtype=np.int64)
    indptr, row = tf.indptr, 0
    while row < tf.shape[0]:
        lo = indptr[row]
        end = max(int(np.searchsorted(indptr, lo + WEIGHT_BLOCK, side="right")) - 1, row + 1)
        end = min(end, tf.shape[0])
        starts = indptr[row:end]
        filled = np.flatnonzero(indptr[row + 1 : end + 1] > starts)
        if len(filled):
            hi = indptr[end]
            block = tf.data[lo:hi].astype(np.int64)
            totals[row + filled] = np.add.reduceat(block, starts[filled] - lo)
        row = end
    return totals


class _Counts:
    """Term x document counts built one document at a time.

    Each batch of documents becomes a document x term CSR block (its term ids are the
    block's indices, so nothing is sorted or deduplicated beyond the batch); the blocks
    are stacked and transposed once at the end. This peaks at about 23 bytes per stored
    count where COO blocks stacked column-wise took 36 (measured at 11 k chunks).
    """

    def __init__(self, vocab: dict[str, int], batch: int = 2000):
        self.vocab = vocab
        self.batch = batch
        self._parts: list[sparse.csr_matrix] = []
        self._ids: list[int] = []
        self._lengths: list[int] = []

    def add(self, terms: Sequence[str]) -> None:
        vocab = self.vocab
        ids = list(map(vocab.get, terms))  # known terms at C speed; most are known
        if None in ids:
            for k, term in enumerate(terms):
                if ids[k] is None:
                    ids[k] = vocab.setdefault(term, len(vocab))
        self._ids.extend(ids)
        self._lengths.append(len(terms))
        if len(self._lengths) == self.batch:
            self._flush()

    def _flush(self) -> None:
        if not self._lengths:
            return
        indptr = np.zeros(len(self._lengths) + 1, dtype=np.int64)
        np.cumsum(self._lengths, out=indptr[1:])
        ones = np.ones(len(self._ids), dtype=np.int32)  # repeated (doc, term) pairs sum up
        block = sparse.csr_matrix(
            (ones, np.asarray(self._ids, dtype=np.int32), indptr),
            shape=(len(self._lengths), len(self.vocab)),
        )
        block.sum_duplicates()
        self._parts.append(block)
        self._ids, self._lengths = [], []

    def matrix(self, order: np.ndarray | None = None) -> sparse.csr_matrix:
        """The term x document count matrix (canonical CSR, int32); with ``order``, its
        documents are the added ones in that order (a permutation of their indices).

        Each block's counts are scattered straight into their term's row and the block is
        freed: stacking the blocks and transposing held two copies of every count at once
        (about 360 MB more a field at 100 k chunks)."""
        self._flush()
        parts, self._parts = self._parts, []
        n_terms = len(self.vocab)
        n_docs = sum(part.shape[0] for part in parts)
        per_term = np.zeros(n_terms, dtype=np.int64)
        for part in parts:
            per_term += np.bincount(part.indices, minlength=n_terms)
        indptr = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(per_term, out=indptr[1:])
        del per_term
        nnz = int(indptr[-1])
        data = np.empty(nnz, dtype=np.int32)
        indices = np.empty(nnz, dtype=np.int32)  # document numbers
        cursor = indptr[:-1].copy()  # next free slot of each term's row
        position = None
        if order is not None:  # document i goes to where it appears in ``order``
            position = np.empty(len(order), dtype=np.int32)
            position[order] = np.arange(len(order), dtype=np.int32)
        first_doc = 0
        while parts:
            part = parts.pop(0)
            docs = np.repeat(
                np.arange(first_doc, first_doc + part.shape[0], dtype=np.int32),
                np.diff(part.indptr),
            )
            if position is not None:
                docs = position[docs]
            by_term = np.argsort(part.indices, kind="stable")  # keeps document order per term
            terms = part.indices[by_term]
            starts = np.flatnonzero(np.r_[True, terms[1:] != terms[:-1]])
            runs = np.diff(np.r_[starts, len(terms)])
            slot = cursor[terms] + (np.arange(len(terms)) - np.repeat(starts, runs))
            indices[slot] = docs[by_term]
            data[slot] = part.data[by_term]
            cursor[terms[starts]] += runs
            first_doc += part.shape[0]
            del part, docs, by_term, terms, starts, runs, slot
        matrix = sparse.csr_matrix((data, indices, indptr), shape=(n_terms, n_docs), copy=False)
        if position is not None:  # rows were filled in arrival order, not document order
            matrix.has_sorted_indices = False
            matrix.sort_indices()
        return matrix


def _count_matrix(
    docs_terms: Iterable[Sequence[str]], vocab: dict[str, int], batch: int = 2000
) -> sparse.csr_matrix:
    """Term x document counts; new terms are added to ``vocab``. Documents are consumed one
    at a time (a generator is fine), so memory holds one batch of term lists."""
    counts = _Counts(vocab, batch)
    for terms in docs_terms:
        counts.add(terms)
    return counts.matrix()


class _FieldCounts:
    """Both fields' counts, one text at a time: each text's match form serves both."""

    def __init__(self) -> None:
        self.accented, self.folded = _Counts({}), _Counts({})

    def add(self, text: str) -> None:
        form = match_form(text)
        self.accented.add(terms_of_form(form))
        self.folded.add(terms_of_form(form, folded=True))

    def fields(self, order: np.ndarray | None = None) -> dict[str, BM25Field]:
        return {
            "accented": BM25Field.from_counts(self.accented.matrix(order), self.accented.vocab),
            "folded": BM25Field.from_counts(self.folded.matrix(order), self.folded.vocab),
        }


class LexicalBuilder:
    """A new lexical index counted chunk by chunk as an index run produces them.

    The counting then overlaps the run's other work instead of following it; ``build``
    gives the index ``LexicalIndex.from_chunks`` would give for the same chunks sorted by
    (source, position), the order a rebuild from the store uses."""

    def __init__(self) -> None:
        self._counts = _FieldCounts()
        self._ids: list[str] = []
        self._texts: list[str] = []
        self._keys: list[tuple[str, int]] = []

    def add(self, chunk: Chunk) -> None:
        text = index_text(chunk)
        self._counts.add(text)
        self._ids.append(chunk.chunk_id)
        self._texts.append(text)
        self._keys.append((chunk.source, chunk.position))

    @property
    def fingerprint(self) -> str:
        return fingerprint(self._ids)

    def build(self) -> LexicalIndex:
        keys = self._keys
        order = np.array(sorted(range(len(keys)), key=keys.__getitem__), dtype=np.int64)
        ids = [self._ids[i] for i in order]
        texts = [self._texts[i] for i in order]
        in_order = bool(np.all(order[1:] > order[:-1]))  # the usual case: files come sorted
        fields = self._counts.fields(None if in_order else order)
        self._counts, self._ids, self._texts, self._keys = _FieldCounts(), [], [], []
        return LexicalIndex(ids, texts, fields=fields)


class LexicalIndex:
    """Two BM25 fields over the same chunks, plus a corpus table for restoring diacritics."""

    def __init__(
        self,
        chunk_ids: Sequence[str],
        texts: Sequence[str],
        fields: dict[str, BM25Field] | None = None,
    ):
        self.chunk_ids = list(chunk_ids)
        self.texts = list(texts)
        self.fingerprint = fingerprint(self.chunk_ids)
        if fields is None:
            counts = _FieldCounts()
            for text in self.texts:
                counts.add(text)
            fields = counts.fields()
        self.fields = fields
        self._restoration: SyllableCounts | None = None
        self._forms: dict[int, str] = {}

    @classmethod
    def from_chunks(cls, chunks: Sequence[Chunk]) -> LexicalIndex:
        return cls([c.chunk_id for c in chunks], [index_text(c) for c in chunks])

    def updated(self, removed: Iterable[str], added: Sequence[Chunk]) -> LexicalIndex:
        """This index without the ``removed`` chunk ids and with ``added`` appended; only the
        new chunks are tokenized."""
        gone = set(removed)
        keep = np.fromiter((cid not in gone for cid in self.chunk_ids), dtype=bool)
        texts = [index_text(c) for c in added]
        forms = [match_form(t) for t in texts]
        fields = {
            name: field.changed(keep, [terms_of_form(f, folded=name == "folded") for f in forms])
            for name, field in self.fields.items()
        }
        kept_ids = [cid for cid, k in zip(self.chunk_ids, keep, strict=True) if k]
        kept_texts = [t for t, k in zip(self.texts, keep, strict=True) if k]
        return LexicalIndex(
            kept_ids + [c.chunk_id for c in added], kept_texts + texts, fields=fields
        )

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
        """How many chunks contain ``phrase`` (match form, whole syllables).

        Candidates are the chunks holding every syllable pair of the phrase (from the
        index); only those are read."""
        sylls = syllables(phrase)
        if not sylls:
            return 0
        field = self.fields["accented"]
        terms = [f"{a}_{b}" for a, b in zip(sylls, sylls[1:], strict=False)] or sylls
        candidates = None
        for term in terms:
            docs = field.documents_with(term)
            candidates = docs if candidates is None else np.intersect1d(candidates, docs)
            if not len(candidates):
                return 0
        key = " " + " ".join(sylls) + " "
        return sum(1 for d in candidates.tolist() if key in self._form(d))

    def _form(self, doc: int) -> str:
        form = self._forms.get(doc)
        if form is None:
            form = self._forms[doc] = " " + " ".join(syllables(self.texts[doc])) + " "
        return form

    # -- diacritic restoration -------------------------------------------------------
    def _restoration_table(self) -> SyllableCounts:
        """Accented forms per folded syllable and syllable pair, with their corpus counts.

        Read off the accented field's vocabulary (its terms are the syllables and pairs of
        every chunk), so it costs one pass over the vocabulary, not over the corpus."""
        if self._restoration is None:
            counts = SyllableCounts()
            field = self.fields["accented"]
            for term, i in field.vocab.items():
                count = int(field.totals[i])
                if not count or term.startswith("#"):
                    continue
                parts = term.split("_")
                if len(parts) == 1:
                    counts.add_syllable(term, count)
                elif len(parts) == 2 and all(parts):
                    counts.add_pair(*parts, count)
            self._restoration = counts
        return self._restoration

    def restore_diacritics(self, query: str, prior: QuestionPrior | None | bool = True) -> str:
        """Best-guess accented form of an accent-free query (``index.accents``): from the
        corpus' own usage, mixed with how questions are worded (``prior``: True for the
        shipped table, None for the corpus alone). Unknown syllables stay."""
        words = syllables(query)
        if not words:
            return query
        if prior is True:
            prior = question_prior()
        return " ".join(restore(words, self._restoration_table(), prior or None))

    # -- persistence -----------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write atomically (a crash never leaves a half-written index), tokenized: loading
        reads the counts back instead of re-tokenizing every chunk."""
        private_dir(path.parent)
        arrays: dict[str, np.ndarray] = {
            "format": np.array([FORMAT_VERSION], dtype=np.int64),
            "fingerprint": _blob([self.fingerprint])[0],
        }
        arrays["ids"], arrays["ids_at"] = _blob(self.chunk_ids)
        arrays["texts"], arrays["texts_at"] = _blob(self.texts)
        for name, field in self.fields.items():
            terms = sorted(field.vocab, key=field.vocab.__getitem__)
            arrays[f"{name}.vocab"], arrays[f"{name}.vocab_at"] = _blob(terms)
            arrays[f"{name}.data"] = field.tf.data.astype(np.int32, copy=False)
            arrays[f"{name}.indices"] = field.tf.indices.astype(np.int32, copy=False)
            arrays[f"{name}.indptr"] = field.tf.indptr.astype(np.int64, copy=False)
            arrays[f"{name}.params"] = np.array([field.k1, field.b], dtype=np.float64)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # article text: owner only
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
        _remove_orphans(path)

    @classmethod
    def load(cls, path: Path) -> LexicalIndex | None:
        """The saved index, or None (rebuild it) when it is missing, unreadable, of another
        format or not shaped like one: a readable file is not enough."""
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            return _from_arrays(arrays)
        except (OSError, ValueError, EOFError, KeyError, IndexError, TypeError, zipfile.BadZipFile):
            return None


def _blob(strings: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Strings as one UTF-8 byte array and their end offsets (no pickling on load).

    Appended one at a time: a list of encoded strings, their join and a copy of that
    made saving the largest moment of an index run (three copies of every text)."""
    buffer = bytearray()
    ends = np.empty(len(strings), dtype=np.int64)
    for i, x in enumerate(strings):
        buffer += x.encode("utf-8")
        ends[i] = len(buffer)
    return np.frombuffer(buffer, dtype=np.uint8), ends


def _unblob(data: np.ndarray, ends: np.ndarray) -> list[str]:
    if data.dtype != np.uint8 or ends.ndim != 1 or (len(ends) and ends[-1] != len(data)):
        raise ValueError("string table does not add up")
    raw = data.tobytes()
    starts = np.concatenate([[0], ends[:-1]]) if len(ends) else ends
    if np.any(ends < starts):
        raise ValueError("string offsets go backwards")
    return [raw[a:b].decode("utf-8") for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]


def _from_arrays(arrays: dict[str, np.ndarray]) -> LexicalIndex:
    """Rebuild an index from saved arrays; ValueError when they do not fit together."""
    if arrays["format"].tolist() != [FORMAT_VERSION]:
        raise ValueError("another format")
    ids = _unblob(arrays["ids"], arrays["ids_at"])
    texts = _unblob(arrays["texts"], arrays["texts_at"])
    if len(ids) != len(texts):
        raise ValueError("ids and texts differ in length")
    fields = {}
    for name in FIELDS:
        terms = _unblob(arrays[f"{name}.vocab"], arrays[f"{name}.vocab_at"])
        tf = sparse.csr_matrix(
            (arrays[f"{name}.data"], arrays[f"{name}.indices"], arrays[f"{name}.indptr"]),
            shape=(len(terms), len(ids)),
        )
        tf.check_format(full_check=True)
        if tf.nnz and tf.data.min() <= 0:
            raise ValueError("term counts must be positive")
        k1, b = arrays[f"{name}.params"].tolist()
        fields[name] = BM25Field.from_counts(tf, {t: i for i, t in enumerate(terms)}, k1, b)
    lex = LexicalIndex(ids, texts, fields=fields)
    if _unblob(arrays["fingerprint"], np.array([len(arrays["fingerprint"])])) != [lex.fingerprint]:
        raise ValueError("fingerprint does not match the ids")
    return lex


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
