"""Hand-computed checks for evals.metrics, and a cross-check against pytrec_eval."""

from __future__ import annotations

import math
import random
import unicodedata

import pytest

from evals.metrics import (
    answer_tokens,
    citation_markers,
    citation_precision,
    citation_recall,
    citation_validity,
    contains_answer,
    exact_match,
    latency_summary,
    normalize_answer,
    rank_documents,
    refusal_metrics,
    retrieval_metrics,
    retrieval_per_query,
    token_f1,
)

L2_3 = math.log2(3)  # discount at rank 2
L2_4 = 2.0  # discount at rank 3

# --------------------------------------------------------------------------- retrieval


def test_rank_documents_breaks_ties_by_docid_descending():
    # b and a tie at 1.0: trec_eval puts the larger docid first -> b before a.
    assert rank_documents({"a": 1.0, "b": 1.0, "d": 2.0, "c": 0.5}) == ["d", "b", "a", "c"]
    # Lexicographic, not numeric: "d9" > "d10".
    assert rank_documents({"d10": 0.0, "d9": 0.0, "d2": 0.0}) == ["d9", "d2", "d10"]
    assert rank_documents({}) == []


def test_retrieval_hand_computed_with_ties_and_graded_relevance():
    qrels = {"q1": {"a": 1, "b": 2, "c": 0, "d": -1}}
    run = {"q1": {"a": 1.0, "b": 1.0, "d": 2.0, "c": 0.5}}
    # Ranking: d(rel -1), b(2), a(1), c(0). Relevant (rel >= 1): {a, b}, 2 in all.
    m = retrieval_per_query(run, qrels, ks=(1, 2, 3), precision_ks=(1, 2), mrr_k=10, ndcg_k=2)["q1"]
    assert m["P@1"] == 0.0  # d is not relevant
    assert m["P@2"] == 0.5  # 1 of {d, b}
    assert m["Recall@1"] == 0.0
    assert m["Recall@2"] == 0.5  # b / 2
    assert m["Recall@3"] == 1.0  # b, a / 2
    assert m["MRR@10"] == 0.5  # first relevant (b) at rank 2
    # DCG@2 = max(-1,0)/log2(2) + 2/log2(3); IDCG@2 = 2/log2(2) + 1/log2(3)
    assert m["nDCG@2"] == pytest.approx((2 / L2_3) / (2 + 1 / L2_3))
    # nDCG@10: DCG adds a (rel 1) at rank 3 -> 1/log2(4) = 0.5
    m10 = retrieval_per_query(run, qrels)["q1"]
    assert m10["nDCG@10"] == pytest.approx((2 / L2_3 + 0.5) / (2 + 1 / L2_3))
    assert m10["nDCG@10"] == pytest.approx(0.66967181649423)  # pytrec_eval's figure


def test_retrieval_precision_divides_by_k_even_when_fewer_retrieved():
    qrels = {"q": {"x": 1}}
    run = {"q": {"x": 5.0}}
    m = retrieval_per_query(run, qrels, precision_ks=(1, 5))["q"]
    assert m["P@1"] == 1.0
    assert m["P@5"] == pytest.approx(1 / 5)  # 1 relevant / k=5
    assert m["Recall@1"] == 1.0
    assert m["MRR@10"] == 1.0
    assert m["nDCG@10"] == 1.0


def test_mrr_only_counts_within_cutoff():
    qrels = {"q": {"rel": 1}}
    # 10 non-relevant docs scored above the relevant one -> it is rank 11.
    run = {"q": {**{f"n{i}": 10.0 - i for i in range(10)}, "rel": -1.0}}
    m = retrieval_per_query(run, qrels)["q"]
    assert m["MRR@10"] == 0.0
    assert m["Recall@10"] == 0.0
    assert m["Recall@20"] == 1.0
    assert retrieval_per_query(run, qrels, mrr_k=11)["q"]["MRR@11"] == pytest.approx(1 / 11)


def test_retrieval_means_and_missing_queries():
    qrels = {
        "q1": {"a": 1},  # retrieved at rank 1
        "q2": {"b": 1},  # not in the run at all -> 0
        "q3": {"c": 0},  # no relevant document -> 0 (recall undefined -> 0)
    }
    run = {"q1": {"a": 0.9, "z": 0.1}, "q3": {"c": 1.0}, "q_extra": {"a": 1.0}}
    m = retrieval_metrics(run, qrels)
    assert set(m) == {"P@1", "Recall@1", "Recall@5", "Recall@10", "Recall@20", "MRR@10", "nDCG@10"}
    # Only q1 scores, mean over the 3 qrels queries (q_extra is ignored).
    for key in m:
        assert m[key] == pytest.approx(1 / 3), key
    per_q = retrieval_per_query(run, qrels)
    assert set(per_q) == {"q1", "q2", "q3"}
    assert per_q["q2"]["nDCG@10"] == 0.0


def test_retrieval_empty_inputs():
    assert all(v == 0.0 for v in retrieval_metrics({}, {}).values())
    assert retrieval_metrics({"q": {}}, {"q": {"a": 1}})["Recall@20"] == 0.0
    with pytest.raises(ValueError):
        retrieval_metrics({}, {}, ks=(0,))


def _random_case(seed: int):
    rng = random.Random(seed)
    # Docids of different lengths and non-ASCII ones: ordering must be code-point order.
    docs = [f"d{i}" for i in range(40)] + ["đ1", "ả2", "Z", "z"]
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    for qi in range(60):
        qid = f"q{qi}"
        judged = rng.sample(docs, rng.randint(1, 8))
        qrels[qid] = {d: rng.choice([0, 0, 1, 1, 2, 3, -1]) for d in judged}
        if qi % 13 == 5:
            continue  # some qrels queries retrieve nothing
        retrieved = rng.sample(docs, rng.randint(0, 30))
        # Few distinct score values -> many ties, including across the rank-10 cut.
        run[qid] = {d: float(rng.choice([0.1, 0.2, 0.3, 0.5, 1.0])) for d in retrieved}
    run["q_not_judged"] = {"d1": 1.0}
    return run, qrels


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_retrieval_matches_pytrec_eval(seed):
    pytrec_eval = pytest.importorskip(
        "pytrec_eval", reason="pytrec_eval (package pytrec-eval-terrier) is not installed"
    )
    run, qrels = _random_case(seed)
    ours = retrieval_per_query(run, qrels, precision_ks=(1, 5))
    ev = pytrec_eval.RelevanceEvaluator(qrels, {"P.1,5", "recall.1,5,10,20", "ndcg_cut.10"})
    ref = ev.evaluate(run)
    # Cut each run to its top 10 in trec_eval order (score desc, docid desc), written
    # independently here; recip_rank on the cut run is MRR@10.
    cut = {
        q: dict(sorted(d.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:10])
        for q, d in run.items()
    }
    ref_rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut)
    pairs = {
        "P@1": "P_1",
        "P@5": "P_5",
        "Recall@1": "recall_1",
        "Recall@5": "recall_5",
        "Recall@10": "recall_10",
        "Recall@20": "recall_20",
        "nDCG@10": "ndcg_cut_10",
    }
    for qid in qrels:
        for mine, theirs in pairs.items():
            # pytrec_eval leaves out queries with no run; those score 0 here.
            expected = ref[qid][theirs] if qid in ref else 0.0
            assert ours[qid][mine] == pytest.approx(expected, abs=1e-12), (qid, mine)
        expected_rr = ref_rr[qid]["recip_rank"] if qid in ref_rr else 0.0
        assert ours[qid]["MRR@10"] == pytest.approx(expected_rr, abs=1e-12), qid
    # Means: over all qrels queries, missing ones as 0 (trec_eval -c).
    means = retrieval_metrics(run, qrels, precision_ks=(1, 5))
    n = len(qrels)
    for mine, theirs in pairs.items():
        expected = sum(ref[q][theirs] for q in ref if q in qrels) / n
        assert means[mine] == pytest.approx(expected, abs=1e-12), mine
        assert 0.0 <= means[mine] <= 1.0


# --------------------------------------------------------------------------- answers


def test_normalize_answer():
    # NFD input, old tone placement (hoá, uỷ), case, punctuation -> spaces, collapsed.
    nfd = unicodedata.normalize("NFD", "Văn hoá, UỶ BAN!!  “Quốc gia”.")
    assert normalize_answer(nfd) == "văn hóa ủy ban quốc gia"
    assert normalize_answer("7,4%") == "7 4"
    assert normalize_answer("Hà_Nội") == "hà nội"
    # No English article stripping.
    assert normalize_answer("The answer") == "the answer"
    assert normalize_answer("") == ""
    assert normalize_answer(" ... ") == ""
    assert answer_tokens("Phạm Minh Chính.") == ["phạm", "minh", "chính"]


def test_exact_match():
    assert (
        exact_match("Thủ tướng Phạm Minh Chính.", ["phạm minh chính", "thủ tướng phạm minh chính"])
        == 1.0
    )
    assert exact_match("Phạm Minh", ["Phạm Minh Chính"]) == 0.0
    assert exact_match("Văn hoá", "văn hóa") == 1.0  # tone placement ignored
    # Empty golds = SQuAD-v2 no-answer: only an empty prediction matches.
    assert exact_match("", []) == 1.0
    assert exact_match("x", []) == 0.0


def test_token_f1_hand_computed():
    # pred: [thủ, tướng, phạm, minh, chính] (5); gold: [phạm, minh, chính] (3)
    # overlap 3 -> P = 3/5, R = 3/3, F1 = 2*0.6*1/1.6 = 0.75
    assert token_f1("Thủ tướng Phạm Minh Chính", ["Phạm Minh Chính"]) == pytest.approx(0.75)
    # max over golds: second gold matches exactly.
    assert (
        token_f1("Thủ tướng Phạm Minh Chính", ["Phạm Minh Chính", "thủ tướng phạm minh chính"])
        == 1.0
    )
    # Multiplicity: pred [a, a, b] vs gold [a, b, c]: common = {a:1, b:1} = 2
    # P = 2/3, R = 2/3, F1 = 2/3
    assert token_f1("a a b", "a b c") == pytest.approx(2 / 3)
    assert token_f1("x y", ["z"]) == 0.0
    # Empty cases: both empty -> 1, one empty -> 0.
    assert token_f1("", [""]) == 1.0
    assert token_f1("", []) == 1.0
    assert token_f1("a", []) == 0.0
    assert token_f1("", ["a"]) == 0.0


def test_contains_answer_whole_tokens():
    assert contains_answer("Thủ đô là Hà Nội.", ["hà nội"])
    assert contains_answer("GDP tăng 7,4% so với cùng kỳ", "7,4%")  # "7 4" inside
    assert not contains_answer("GDP tăng 17,4%", ["7,4%"])  # "17 4" is not "7 4"
    assert not contains_answer("Hà Nộii", ["Hà Nội"])
    assert not contains_answer("anything", [])
    assert not contains_answer("anything", ["", " ... "])  # empty golds never match
    assert contains_answer("Ủy ban", ["uỷ ban"])


# --------------------------------------------------------------------------- grounding


def test_citation_markers():
    assert citation_markers("a [1] b [2, 3] c [1][4] d [x] e [5;6]") == [1, 2, 3, 1, 4, 5, 6]
    assert citation_markers("") == []


def test_citation_precision_and_recall():
    # 3 citations, 2 from gold sources -> 2/3 (duplicates count each time).
    assert citation_precision(["a.txt", "b.txt", "a.txt"], ["a.txt"]) == pytest.approx(2 / 3)
    assert citation_precision([], ["a.txt"]) is None
    assert citation_precision(["a.txt"], []) == 0.0
    assert citation_precision([" a.txt "], {"a.txt"}) == 1.0
    # recall: gold {a, c}, cited {a, b} -> 1/2
    assert citation_recall(["a", "b"], ["a", "c"]) == 0.5
    assert citation_recall(["a"], []) is None


PASSAGE = (
    "Chiều 30/11, Thủ tướng Phạm Minh Chính chủ trì phiên họp của Ủy ban Quốc gia về chuyển đổi số."
)


def _cit(n, chunk_id="c1", quote="Thủ tướng Phạm Minh Chính chủ trì phiên họp", text=PASSAGE):
    return {
        "n": n,
        "source": "000.txt",
        "title": "T",
        "date": None,
        "chunk_id": chunk_id,
        "text": text,
        "quote": quote,
    }


def test_citation_validity_ok_and_normalized_quote():
    # Quote differs in NFD form, tone placement (Uỷ), case and line break only.
    quote = unicodedata.normalize("NFD", "phiên họp của Uỷ ban\nQuốc gia")
    res = citation_validity(
        "Thủ tướng chủ trì [1]. Ủy ban quốc gia [2].", [_cit(1), _cit(2, quote=quote)], ["c1", "c9"]
    )
    assert res["valid"] is True
    assert res["n_markers"] == 2 and res["n_citations"] == 2
    assert res["unresolved_markers"] == res["unretrieved"] == res["unsupported_quotes"] == []


def test_citation_validity_failures():
    cits = [
        _cit(1),
        _cit(2, chunk_id="not-retrieved"),
        _cit(3, quote="Thủ tướng chủ trì cuộc họp báo"),  # not in the passage
        _cit(4, quote=""),  # empty quote cannot be verified
        _cit(7),  # no marker points to it: reported, not invalidating
    ]
    res = citation_validity("A [1]. B [2]. C [3]. D [4][5].", cits, ["c1"])
    assert res["valid"] is False
    assert res["unresolved_markers"] == [5]
    assert res["unretrieved"] == [2]
    assert res["unsupported_quotes"] == [3, 4]
    assert res["unused_citations"] == [7]
    # Only the unused citation -> still valid.
    assert citation_validity("A [1].", [_cit(1), _cit(7)], ["c1"])["valid"] is True


def test_citation_validity_empty_and_dataclass():
    res = citation_validity("Tôi không tìm thấy thông tin này.", [], [])
    assert res["valid"] is True and res["n_markers"] == 0
    assert citation_validity("A [1].", [], ["c1"])["unresolved_markers"] == [1]

    from assistant.answering.answer import Citation

    c = Citation(1, "000.txt", "T", None, "c1", PASSAGE, "Phạm Minh Chính")
    assert citation_validity("A [1].", [c], ["c1"])["valid"] is True


# --------------------------------------------------------------------------- refusal


def test_refusal_metrics_hand_computed():
    rows = [
        # answerable, answered exactly: EM 1, F1 1
        {"answerable": True, "refused": False, "prediction": "Hà Nội", "answers": ["Hà Nội"]},
        # answerable, partial: pred [thủ, đô, hà, nội] vs gold [hà, nội] -> P 2/4, R 1, F1 2/3
        {
            "answerable": True,
            "refused": False,
            "prediction": "thủ đô Hà Nội",
            "answers": ["Hà Nội"],
        },
        # answerable, refused: EM 0, F1 0, counts as a false refusal
        {
            "answerable": True,
            "refused": True,
            "prediction": "Tôi không tìm thấy",
            "answers": ["5%"],
        },
        # answerable without gold text: false-refusal denominator only
        {"answerable": True, "refused": False, "prediction": "x", "answers": []},
        # unanswerable, refused: 1 ; unanswerable, answered: 0
        {"answerable": False, "refused": True, "prediction": "Tôi không tìm thấy", "answers": []},
        {"answerable": False, "refused": False, "prediction": "Ngày mai", "answers": []},
    ]
    m = refusal_metrics(rows)
    assert m["n"] == 6 and m["n_answerable"] == 4 and m["n_unanswerable"] == 2
    assert m["refusal_accuracy"] == 0.5  # 1 of 2 unanswerable refused
    assert m["false_refusal_rate"] == 0.25  # 1 of 4 answerable refused
    assert m["HasAns_total"] == 3 and m["HasAns_unscored"] == 1
    assert m["HasAns_exact"] == pytest.approx(1 / 3)  # (1 + 0 + 0) / 3
    assert m["HasAns_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert m["NoAns_total"] == 2
    assert m["NoAns_exact"] == m["NoAns_f1"] == 0.5
    assert m["exact"] == pytest.approx((1 + 0 + 0 + 1 + 0) / 5)
    assert m["f1"] == pytest.approx((1 + 2 / 3 + 0 + 1 + 0) / 5)


def test_refusal_metrics_empty():
    m = refusal_metrics([])
    assert m["n"] == 0
    assert m["refusal_accuracy"] is None and m["false_refusal_rate"] is None
    assert m["exact"] is None and m["HasAns_f1"] is None and m["NoAns_exact"] is None


# --------------------------------------------------------------------------- latency


def test_latency_summary_linear_interpolation():
    # sorted [10, 20, 30, 40]; p50 at position 0.5*3 = 1.5 -> 20 + 0.5*10 = 25
    # p95 at position 0.95*3 = 2.85 -> 30 + 0.85*10 = 38.5 ; mean 25 ; max 40
    s = latency_summary([40, 10, 30, 20])
    assert s == {"n": 4, "p50": 25.0, "p95": pytest.approx(38.5), "mean": 25.0, "max": 40.0}
    one = latency_summary([7.5])
    assert one["p50"] == one["p95"] == one["mean"] == one["max"] == 7.5
    assert latency_summary([]) == {"n": 0, "p50": None, "p95": None, "mean": None, "max": None}
    with pytest.raises(ValueError):
        latency_summary([1.0, float("nan")])
    with pytest.raises(ValueError):
        latency_summary([-1.0])
