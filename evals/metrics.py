"""Deterministic evaluation metrics: retrieval, answers, grounding, refusal and latency.

Every function here is pure (no I/O, no randomness) so that two runs over the same
predictions give the same figures.

Retrieval metrics follow ``trec_eval`` as exposed by ``pytrec_eval`` — the code BEIR and
MTEB use — so numbers are comparable with published tables:

* A run is ``{qid: {docid: score}}``; qrels are ``{qid: {docid: relevance}}`` (ints).
* Documents are ranked by score descending; **ties are broken by docid descending**
  (``trec_eval``'s ``comp_sim_docno``: ``strcmp(docno2, docno1)``; Python ``str``
  ordering is code-point order, which equals UTF-8 byte order). The order in which a
  retriever returned the documents is ignored, exactly as in ``trec_eval``.
* "Relevant" (precision, recall, MRR) means ``relevance >= 1`` (``relevance_level=1``).
* ``P@k`` = relevant documents in the top ``k`` / ``k`` (also when fewer than ``k``
  documents were retrieved).
* ``Recall@k`` = relevant documents in the top ``k`` / relevant documents in the qrels
  (0 when the qrels list none).
* ``MRR@k`` = 1 / rank of the first relevant document within the top ``k``, else 0;
  this equals ``trec_eval``'s ``recip_rank`` on the run cut to its top ``k``.
* ``nDCG@k`` = ``trec_eval``'s ``ndcg_cut.k``: gain = relevance (negative relevance
  counts as 0), discount ``log2(rank + 1)``, the ideal DCG is built from *all* judged
  documents of the query in the qrels (not only retrieved ones); 0 when the ideal is 0.
* Means are taken over every query in the qrels. A qrels query that is missing from the
  run (or retrieved nothing) scores 0 on every metric, like ``trec_eval -c``. Queries in
  the run but not in the qrels are ignored. BEIR's own averaging divides by the number
  of queries that *were* retrieved for; the two agree whenever every query gets results.
  BEIR/MTEB's optional ``ignore_identical_ids`` (dropping docid == qid) is not applied.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from index.normalize import match_form

__all__ = [
    "rank_documents",
    "retrieval_per_query",
    "retrieval_metrics",
    "normalize_answer",
    "answer_tokens",
    "exact_match",
    "token_f1",
    "contains_answer",
    "citation_markers",
    "citation_precision",
    "citation_recall",
    "citation_validity",
    "refusal_metrics",
    "latency_summary",
]

Run = Mapping[str, Mapping[str, float]]
Qrels = Mapping[str, Mapping[str, int]]

DEFAULT_KS: tuple[int, ...] = (1, 5, 10, 20)


# --------------------------------------------------------------------------- retrieval


def rank_documents(scores: Mapping[str, float]) -> list[str]:
    """Docids in ``trec_eval`` order: score descending, ties broken by docid descending."""
    return [doc for doc, _ in sorted(scores.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)]


def _metric_names(
    ks: Sequence[int], precision_ks: Sequence[int], mrr_k: int, ndcg_k: int
) -> list[str]:
    return (
        [f"P@{k}" for k in precision_ks]
        + [f"Recall@{k}" for k in ks]
        + [f"MRR@{mrr_k}", f"nDCG@{ndcg_k}"]
    )


def _check_cutoffs(*cutoffs: int) -> None:
    for k in cutoffs:
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"rank cutoffs must be positive integers, got {k!r}")


def _query_metrics(
    ranking: Sequence[str],
    judged: Mapping[str, int],
    ks: Sequence[int],
    precision_ks: Sequence[int],
    mrr_k: int,
    ndcg_k: int,
) -> dict[str, float]:
    relevant = {doc for doc, rel in judged.items() if rel >= 1}
    n_rel = len(relevant)
    hits = [doc in relevant for doc in ranking]

    out: dict[str, float] = {}
    for k in precision_ks:
        out[f"P@{k}"] = sum(hits[:k]) / k
    for k in ks:
        out[f"Recall@{k}"] = (sum(hits[:k]) / n_rel) if n_rel else 0.0

    rr = 0.0
    for rank, hit in enumerate(hits[:mrr_k], start=1):
        if hit:
            rr = 1.0 / rank
            break
    out[f"MRR@{mrr_k}"] = rr

    dcg = sum(
        max(judged.get(doc, 0), 0) / math.log2(rank + 1)
        for rank, doc in enumerate(ranking[:ndcg_k], start=1)
    )
    ideal_gains = sorted((rel for rel in judged.values() if rel > 0), reverse=True)[:ndcg_k]
    idcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal_gains, start=1))
    out[f"nDCG@{ndcg_k}"] = dcg / idcg if idcg > 0 else 0.0
    return out


def retrieval_per_query(
    run: Run,
    qrels: Qrels,
    ks: Sequence[int] = DEFAULT_KS,
    *,
    precision_ks: Sequence[int] = (1,),
    mrr_k: int = 10,
    ndcg_k: int = 10,
) -> dict[str, dict[str, float]]:
    """Per-query ``P@k``, ``Recall@k``, ``MRR@mrr_k`` and ``nDCG@ndcg_k`` for every qrels query.

    Keys are e.g. ``"P@1"``, ``"Recall@5"``, ``"MRR@10"``, ``"nDCG@10"``. A query absent
    from ``run`` scores 0. See the module docstring for the exact definitions.
    """
    _check_cutoffs(*ks, *precision_ks, mrr_k, ndcg_k)
    out: dict[str, dict[str, float]] = {}
    for qid, judged in qrels.items():
        ranking = rank_documents(run.get(qid) or {})
        out[qid] = _query_metrics(ranking, judged, ks, precision_ks, mrr_k, ndcg_k)
    return out


def retrieval_metrics(
    run: Run,
    qrels: Qrels,
    ks: Sequence[int] = DEFAULT_KS,
    *,
    precision_ks: Sequence[int] = (1,),
    mrr_k: int = 10,
    ndcg_k: int = 10,
) -> dict[str, float]:
    """Means over the qrels queries of the :func:`retrieval_per_query` metrics, all in [0, 1].

    With the defaults the keys are ``P@1``, ``Recall@1``, ``Recall@5``, ``Recall@10``,
    ``Recall@20``, ``MRR@10`` and ``nDCG@10``. Empty qrels give 0.0 for every metric.
    """
    per_query = retrieval_per_query(
        run, qrels, ks, precision_ks=precision_ks, mrr_k=mrr_k, ndcg_k=ndcg_k
    )
    names = _metric_names(ks, precision_ks, mrr_k, ndcg_k)
    n = len(per_query)
    if n == 0:
        return dict.fromkeys(names, 0.0)
    return {name: math.fsum(q[name] for q in per_query.values()) / n for name in names}


# --------------------------------------------------------------------------- answers


def _is_punct_or_symbol(ch: str) -> bool:
    return unicodedata.category(ch)[0] in ("P", "S")


def normalize_answer(text: str) -> str:
    """Answer text in comparison form.

    Every Unicode punctuation or symbol character (categories P* and S*, e.g.
    ``, . " “ ” % $ _``) becomes a space, then :func:`index.normalize.match_form` (NFC,
    one tone placement, lower-case), then whitespace is collapsed. No article stripping
    (SQuAD's English "a/an/the" rule does not apply to Vietnamese).
    """
    # Punctuation is folded *before* match_form: match_form places tones per ``\w+`` run,
    # and "_" is a word character, so "Hà_Nội" would be treated as one syllable.
    text = unicodedata.normalize("NFC", text or "")
    form = "".join(" " if _is_punct_or_symbol(ch) else ch for ch in text)
    return " ".join(match_form(form).split())


def answer_tokens(text: str) -> list[str]:
    """Syllable tokens of :func:`normalize_answer` (split on whitespace)."""
    return normalize_answer(text).split()


def _golds(golds: str | Iterable[str]) -> list[str]:
    if isinstance(golds, str):
        return [golds]
    out = list(golds)
    # SQuAD-v2 convention: no gold answer means the empty answer is the gold.
    return out or [""]


def exact_match(pred: str, golds: str | Iterable[str]) -> float:
    """1.0 when the normalized prediction equals some normalized gold, else 0.0.

    An empty ``golds`` list is treated as ``[""]`` (SQuAD-v2: only an empty prediction
    is correct).
    """
    p = normalize_answer(pred)
    return float(any(p == normalize_answer(g) for g in _golds(golds)))


def _f1(pred_toks: list[str], gold_toks: list[str]) -> float:
    if not pred_toks or not gold_toks:
        return float(pred_toks == gold_toks)
    common = Counter(pred_toks) & Counter(gold_toks)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred_toks)
    recall = same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def token_f1(pred: str, golds: str | Iterable[str]) -> float:
    """SQuAD token F1 over syllables, maximised over golds.

    Tokens are the whitespace-separated syllables of :func:`normalize_answer`; overlap
    counts repeated tokens by multiplicity. If prediction or gold has no tokens, F1 is 1
    when both are empty and 0 otherwise. Empty ``golds`` is treated as ``[""]``.
    """
    p = answer_tokens(pred)
    return max(_f1(p, answer_tokens(g)) for g in _golds(golds))


def contains_answer(pred: str, golds: str | Iterable[str]) -> bool:
    """True when some non-empty normalized gold occurs in the normalized prediction as a
    whole-token sequence (``"hà nội"`` matches ``"ở hà nội ."`` but not ``"hà nộii"``)."""
    p = f" {normalize_answer(pred)} "
    for g in [golds] if isinstance(golds, str) else golds:
        g_norm = normalize_answer(g)
        if g_norm and f" {g_norm} " in p:
            return True
    return False


# --------------------------------------------------------------------------- grounding

# [1], [12], and grouped markers [1, 2] / [1;2]. Adjacent [1][2] are two markers.
_MARKER_RE = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")


def citation_markers(text: str) -> list[int]:
    """Marker numbers in order of appearance: ``"a [1] b [2, 3] c [1]"`` -> ``[1, 2, 3, 1]``."""
    out: list[int] = []
    for m in _MARKER_RE.finditer(text or ""):
        out.extend(int(x) for x in re.split(r"\s*[,;]\s*", m.group(1)))
    return out


def _norm_source(s: str) -> str:
    return unicodedata.normalize("NFC", str(s)).strip()


def citation_precision(cited_sources: Sequence[str], gold_sources: Iterable[str]) -> float | None:
    """Share of citations whose source is a gold source; ``None`` when nothing is cited.

    Every citation counts (two citations of the same source count twice). Sources are
    compared after NFC and stripping surrounding whitespace.
    """
    cited = [_norm_source(s) for s in cited_sources]
    if not cited:
        return None
    gold = {_norm_source(s) for s in gold_sources}
    return sum(1 for s in cited if s in gold) / len(cited)


def citation_recall(cited_sources: Iterable[str], gold_sources: Iterable[str]) -> float | None:
    """Share of distinct gold sources that are cited at least once; ``None`` without golds."""
    gold = {_norm_source(s) for s in gold_sources}
    if not gold:
        return None
    cited = {_norm_source(s) for s in cited_sources}
    return len(gold & cited) / len(gold)


def _field(citation: Any, key: str) -> Any:
    if isinstance(citation, Mapping):
        return citation.get(key)
    return getattr(citation, key, None)


def _quote_form(text: str) -> str:
    return " ".join(match_form(text or "").split())


def citation_validity(
    answer_text: str,
    citations: Sequence[Mapping[str, Any] | Any],
    retrieved_chunk_ids: Iterable[str],
) -> dict[str, Any]:
    """Check that an answer's citations are well-formed and grounded.

    ``citations`` are dicts (or :class:`assistant.answering.answer.Citation` objects) with keys
    ``n, source, title, date, chunk_id, text, quote``. The answer is valid when

    1. every ``[n]`` marker in ``answer_text`` has a citation with that ``n``;
    2. every citation's ``chunk_id`` is among ``retrieved_chunk_ids``;
    3. every citation's ``quote`` is non-empty and occurs in its passage ``text``
       (compared in :func:`~index.normalize.match_form` with whitespace collapsed, so
       NFC/NFD, tone placement, case and line breaks do not matter; punctuation does).

    Returns ``{"valid", "n_markers", "n_citations", "unresolved_markers",
    "unretrieved", "unsupported_quotes", "unused_citations"}``; the list values hold
    marker numbers, sorted. ``unused_citations`` (citations no marker points to) is
    reported for information and does not affect ``valid``. An answer without markers
    or citations (e.g. a refusal) is valid.
    """
    markers = set(citation_markers(answer_text))
    cited_ns: set[int] = set()
    unretrieved: set[int] = set()
    unsupported: set[int] = set()
    retrieved = set(retrieved_chunk_ids)
    for c in citations:
        n = _field(c, "n")
        try:
            n = int(n)
        except (TypeError, ValueError):
            n = -1
        cited_ns.add(n)
        if _field(c, "chunk_id") not in retrieved:
            unretrieved.add(n)
        raw_quote = unicodedata.normalize("NFC", str(_field(c, "quote") or ""))
        raw_text = unicodedata.normalize("NFC", str(_field(c, "text") or ""))
        quote = _quote_form(raw_quote)
        if not quote or (raw_quote not in raw_text and quote not in _quote_form(raw_text)):
            unsupported.add(n)
    unresolved = markers - cited_ns
    return {
        "valid": not (unresolved or unretrieved or unsupported),
        "n_markers": len(markers),
        "n_citations": len(citations),
        "unresolved_markers": sorted(unresolved),
        "unretrieved": sorted(unretrieved),
        "unsupported_quotes": sorted(unsupported),
        "unused_citations": sorted(cited_ns - markers),
    }


# --------------------------------------------------------------------------- refusal


def _share(num: int, den: int) -> float | None:
    return num / den if den else None


def _mean(values: list[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def refusal_metrics(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Refusal behaviour and SQuAD-v2 style HasAns / NoAns EM and F1.

    Each row is a mapping with ``answerable`` (bool, from the dataset), ``refused``
    (bool, from the assistant), ``prediction`` (the answer text) and ``answers`` (gold
    answer strings).

    * ``refusal_accuracy``: share of unanswerable questions that were refused.
    * ``false_refusal_rate``: share of answerable questions that were refused.
    * HasAns (answerable) rows: a refusal scores EM = F1 = 0, otherwise
      :func:`exact_match` / :func:`token_f1` of ``prediction`` against ``answers``.
      Answerable rows without any non-empty gold answer cannot be scored: they count for
      ``false_refusal_rate`` but not for HasAns EM/F1 (their number is ``HasAns_unscored``).
    * NoAns (unanswerable) rows: a refusal scores EM = F1 = 1, an answer 0.
    * ``exact`` / ``f1``: over all scored rows. Values are fractions in [0, 1] (the
      official SQuAD script prints them x100). A rate over zero rows is ``None``.
    """
    n_ans = n_unans = refused_ans = refused_unans = unscored = 0
    has_em: list[float] = []
    has_f1: list[float] = []
    no_em: list[float] = []
    for row in rows:
        refused = bool(row.get("refused"))
        if bool(row.get("answerable")):
            n_ans += 1
            refused_ans += refused
            golds = [g for g in row.get("answers") or [] if normalize_answer(g)]
            if not golds:
                unscored += 1
                continue
            if refused:
                has_em.append(0.0)
                has_f1.append(0.0)
            else:
                pred = row.get("prediction") or ""
                has_em.append(exact_match(pred, golds))
                has_f1.append(token_f1(pred, golds))
        else:
            n_unans += 1
            refused_unans += refused
            no_em.append(1.0 if refused else 0.0)
    return {
        "n": n_ans + n_unans,
        "n_answerable": n_ans,
        "n_unanswerable": n_unans,
        "refusal_accuracy": _share(refused_unans, n_unans),
        "false_refusal_rate": _share(refused_ans, n_ans),
        "HasAns_total": len(has_em),
        "HasAns_unscored": unscored,
        "HasAns_exact": _mean(has_em),
        "HasAns_f1": _mean(has_f1),
        "NoAns_total": len(no_em),
        "NoAns_exact": _mean(no_em),
        "NoAns_f1": _mean(no_em),  # identical by definition for NoAns rows
        "exact": _mean(has_em + no_em),
        "f1": _mean(has_f1 + no_em),
    }


# --------------------------------------------------------------------------- latency


def latency_summary(ms_list: Iterable[float]) -> dict[str, float | int | None]:
    """``{"n", "p50", "p95", "mean", "max"}`` of latencies in milliseconds.

    Percentiles use ``numpy.percentile(..., method="linear")`` (numpy's default, type 7
    of Hyndman & Fan: linear interpolation between the two closest ranks, e.g. p50 of
    ``[1, 2, 3, 4]`` is 2.5). An empty input gives ``n = 0`` and ``None`` elsewhere.
    Raises ``ValueError`` on NaN, infinite or negative values.
    """
    arr = np.asarray(list(ms_list), dtype=float)
    if arr.size == 0:
        return {"n": 0, "p50": None, "p95": None, "mean": None, "max": None}
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError("latencies must be finite, non-negative numbers of milliseconds")
    return {
        "n": int(arr.size),
        "p50": float(np.percentile(arr, 50, method="linear")),
        "p95": float(np.percentile(arr, 95, method="linear")),
        "mean": float(arr.mean()),
        "max": float(arr.max()),
    }
