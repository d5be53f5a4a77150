"""`hoidap eval` end to end: a tiny BEIR corpus (fake embedder) and 5 seed questions (real e5 embeddings)."""

from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from assistant.cli import main
from evals.datasets import QAItem
from evals.runner import EvalOptions, run_eval, typed_accent_free
from evals.separation import separation
from index.config import Settings
from index.normalize import strip_marks

DATA = Path(__file__).resolve().parent / "data" / "eval"
BEIR = DATA / "beir_vi"
SEED_QA_5 = DATA / "seed_qa_5.jsonl"
CITATION_KEYS = {"n", "source", "title", "date", "chunk_id", "text", "quote", "url"}


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _doc_ranking(pred: dict) -> list[str]:
    """Documents by best score, ties by docid descending (trec_eval's documented order)."""
    best: dict[str, float] = {}
    for hit in pred["retrieved"]:
        best[hit["source"]] = max(best.get(hit["source"], -1e9), hit["score"])
    return [d for d, _ in sorted(best.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)]


def _by_hand(ranking: list[str], judged: dict[str, int], k: int = 10) -> dict[str, float]:
    relevant = {d for d, r in judged.items() if r > 0}
    ranks = [i for i, d in enumerate(ranking, 1) if d in relevant]
    dcg = sum(judged.get(d, 0) / math.log2(i + 1) for i, d in enumerate(ranking[:k], 1))
    ideal = sorted((r for r in judged.values() if r > 0), reverse=True)
    idcg = sum(g / math.log2(i + 1) for i, g in enumerate(ideal[:k], 1))
    return {
        "P@1": float(bool(ranking) and ranking[0] in relevant),
        "Recall@5": len([r for r in ranks if r <= 5]) / len(relevant),
        "MRR@10": 1 / ranks[0] if ranks and ranks[0] <= 10 else 0.0,
        "nDCG@10": dcg / idcg,
    }


@pytest.fixture
def fake_env(monkeypatch) -> Settings:
    monkeypatch.setenv("HOIDAP_EMBEDDER", "fake")
    return Settings.load()


def test_beir_run_writes_every_file_and_hand_checked_metrics(fake_env, tmp_path, hoidap_home):
    out = tmp_path / "run"
    run = run_eval(BEIR, out, fake_env, options=EvalOptions(judge=False))

    for name in (
        "predictions.jsonl",
        "report.json",
        "report.md",
        "per_kind_accuracy.png",
        "latency_hist.png",
    ):
        assert (out / name).is_file(), name
    assert not (out / "score_distribution.png").exists()  # no answers, no support scores
    # The external corpus lives in the run folder, never in the user's index.
    assert (out / "index" / "chroma").is_dir()
    assert not (hoidap_home / "chroma").exists()

    preds = _lines(out / "predictions.jsonl")
    assert [p["id"] for p in preds] == ["q1", "q2", "q3", "q4"]  # q5 has no qrels
    for p in preds:
        assert p["answer"] is None and p["citations"] is None
        assert p["latency_ms"] >= 0
        assert p["retrieved"] and set(p["retrieved"][0]) == {"chunk_id", "source", "score"}
        sources = [h["source"] for h in p["retrieved"]]
        assert len(sources) == len(set(sources)) == 10  # one best chunk per document, all 10 docs
    by_id = {p["id"]: p for p in preds}
    assert _doc_ranking(by_id["q1"])[0] == "d01"
    assert _doc_ranking(by_id["q3"])[0] == "d10"
    assert _doc_ranking(by_id["q4"])[0] != "d05"  # gold deliberately unrelated to the question

    qrels = {"q1": {"d01": 1}, "q2": {"d02": 2, "d03": 1}, "q3": {"d10": 1}, "q4": {"d05": 1}}
    hand = {qid: _by_hand(_doc_ranking(by_id[qid]), judged) for qid, judged in qrels.items()}
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    for metric in ("P@1", "Recall@5", "MRR@10", "nDCG@10"):
        expected = sum(h[metric] for h in hand.values()) / 4
        assert report["retrieval"][metric] == pytest.approx(expected), metric
        for qid in qrels:
            assert by_id[qid]["scores"][metric] == pytest.approx(hand[qid][metric])
    assert report["retrieval"]["n_judged"] == 4
    assert run.report["retrieval"] == report["retrieval"]  # what run_eval returns is what it wrote
    assert by_id["q4"]["outcome"] in ("top10", "miss")
    assert by_id["q1"]["outcome"] == "top1"

    assert report["dataset"]["format"] == "beir" and report["dataset"]["n_evaluated"] == 4
    assert report["config"]["embedder"] == "fake:hashing-256"
    assert report["config"]["retrieval_only"] is True
    assert set(report["config"]["fusion"]) >= {"dense_weight", "candidates", "method"}
    assert report["versions"]["chromadb"] and len(report["git"]["commit"] or "x" * 40) == 40
    assert "answers" not in report and report["judge"]["skipped"].startswith("retrieval-only")
    md = (out / "report.md").read_text(encoding="utf-8")
    assert f"| retrieval | nDCG@10 | {100 * report['retrieval']['nDCG@10']:.2f} |" in md
    assert "| q4 |" in md  # the failed question is listed among the worst

    # A rerun into the same folder embeds nothing again.
    again = run_eval(BEIR, out, fake_env, options=EvalOptions(judge=False, plots=False))
    assert again.report["timing"]["index"]["new"] == 0
    assert again.report["retrieval"] == report["retrieval"]


def test_csv_answers_are_scored_at_context_level(fake_env, tmp_path):
    run = run_eval(DATA / "tiny.csv", tmp_path / "csv", fake_env, options=EvalOptions(judge=False))
    preds = {p["id"]: p for p in run.predictions}
    # Contexts 0/1 and 2/3 are the same after NFKC + whitespace folding: c0, c1, c2.
    assert preds["0"]["gold"]["sources"] == preds["1"]["gold"]["sources"] == ["c0"]
    assert preds["3"]["gold"]["sources"] == ["c1"]
    assert {h["source"] for p in preds.values() for h in p["retrieved"]} <= {"c0", "c1", "c2"}
    answered = [p for p in preds.values() if not p["refused"]]
    assert answered and all(set(p["citations"][0]) == CITATION_KEYS for p in answered)
    # contains: hand check on the answers as written (gold 'Hà Nội', '5%', ...).
    golds = {"0": "hà nội", "1": "thủ đô của việt nam", "2": "5%", "3": "5%"}
    hand = [
        float(not preds[q]["refused"] and g in preds[q]["answer"].lower()) for q, g in golds.items()
    ]
    assert run.report["answers"]["contains"] == pytest.approx(sum(hand) / 4)
    assert run.report["answers"]["n_scored"] == 4
    unanswerable_refused = float(preds["4"]["refused"])
    assert run.report["grounding"]["refusal_accuracy"] == unanswerable_refused


@pytest.mark.slow
def test_seed_qa_subset_with_real_assistant(seed_settings, seed_assistant, tmp_path):
    out = tmp_path / "seed5"
    run = run_eval(
        SEED_QA_5, out, seed_settings, assistant=seed_assistant, options=EvalOptions(judge=False)
    )
    preds = _lines(out / "predictions.jsonl")
    assert [p["id"] for p in preds] == ["q001", "q003", "q027", "q083", "q094"]
    seeds = {p.name for p in (Path(__file__).resolve().parents[1] / "seeds").iterdir()}
    for p in preds:
        assert isinstance(p["answer"], str) and isinstance(p["refused"], bool)
        assert {h["source"] for h in p["retrieved"]} <= seeds
        for c in p["citations"]:
            assert set(c) == CITATION_KEYS and c["quote"]
        assert p["latency_ms"] > 0 and isinstance(p["top_score"], float)
    by_id = {p["id"]: p for p in preds}
    # Retrieval at source-article level: q003's only source is article 001.
    assert by_id["q003"]["retrieved"][0]["source"] == "001_c7e9e54a34adfa75.txt"
    assert by_id["q003"]["scores"]["P@1"] == 1.0
    # q083 is a follow-up: the standalone question carries the history's subject.
    assert by_id["q083"]["standalone_question"] != by_id["q083"]["question"]

    golds = {"q001": "phạm minh chính", "q003": "trần hồng hà", "q027": "28%", "q083": "19%"}
    hand = [
        float(not by_id[q]["refused"] and g in by_id[q]["answer"].lower()) for q, g in golds.items()
    ]
    report = run.report
    assert report["answers"]["contains"] == pytest.approx(sum(hand) / 4)
    assert report["grounding"]["refusal_accuracy"] == float(by_id["q094"]["refused"])
    refused = [by_id[q]["refused"] for q in golds]
    assert report["grounding"]["false_refusal_rate"] == pytest.approx(sum(refused) / 4)
    assert report["per_kind"]["unanswerable"]["n"] == 1
    assert set(report["per_kind"]) == {"fact", "number", "followup", "unanswerable"}
    assert (out / "score_distribution.png").stat().st_size > 1000
    assert report["retrieval"]["n_judged"] == 4  # the unanswerable one has no gold source
    # The run's support scores, read back by `hoidap eval separation`.
    sep = separation(str(out), targets=(0.0,))
    wins = [by_id[q]["top_score"] > by_id["q094"]["top_score"] for q in golds]
    assert (sep.answerable, sep.unanswerable) == (4, 1) and sep.auc == sum(wins) / 4


@pytest.mark.slow
def test_accent_free_run_asks_without_diacritics_and_keeps_the_gold(
    seed_settings, seed_assistant, tmp_path
):
    options = EvalOptions(judge=False, plots=False, accent_free=True)
    run = run_eval(
        SEED_QA_5, tmp_path / "plain", seed_settings, assistant=seed_assistant, options=options
    )
    by_id = {p["id"]: p for p in run.predictions}
    assert by_id["q027"]["question"] == (
        "Theo bao cao cua Google, kinh te so Viet Nam nam 2022 tang truong bao nhieu?"
    )
    assert by_id["q001"]["gold"]["answers"] == ["Phạm Minh Chính"]  # the gold keeps its accents
    assert run.report["config"]["accent_free"] is True
    # Restored well enough to answer: the number and the name come back with their accents.
    assert "28%" in by_id["q027"]["answer"]
    assert "Phạm Minh Chính" in by_id["q001"]["answer"]
    # A follow-up's history is typed the same way.
    assert all(
        turn["content"] == strip_marks(turn["content"])
        for turn in typed_accent_free(
            QAItem("x", "Còn năm 2023?", history=[{"role": "user", "content": "Kinh tế số?"}])
        ).history
    )


def test_wrong_format_gets_a_clear_error(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("không phải tập dữ liệu", encoding="utf-8")
    assert main(["eval", "--dataset", str(notes), "--out", str(tmp_path / "o"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "unrecognised data set format '.txt'" in err
    assert "BEIR directory" in err and "không nhận ra định dạng" in err
    assert "Traceback" not in err

    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("cau_hoi,tra_loi\nA,B\n", encoding="utf-8")
    assert main(["eval", "--dataset", str(bad_csv), "--out", str(tmp_path / "o"), "--quiet"]) == 1
    assert "missing column(s) context, question, answer" in capsys.readouterr().err

    assert main(["eval", "--quiet"]) == 1
    assert "--dataset" in capsys.readouterr().err


def test_cli_eval_runs_and_prints_summary(fake_env, tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(
        ["eval", "--dataset", str(BEIR), "--out", str(out), "--k", "5", "--limit", "2", "--quiet"]
    )
    assert code == 0
    stdout = capsys.readouterr().out
    assert "nDCG@5" in stdout and str(out / "report.md") in stdout
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["dataset"]["n_evaluated"] == 2 and report["dataset"]["limit"] == 2
    assert "nDCG@5" in report["retrieval"] and "MRR@5" in report["retrieval"]
    assert report["retrieval"]["n_judged"] == 2


class _JudgeHandler(BaseHTTPRequestHandler):
    """OpenAI-compatible chat endpoint: says KHÔNG when the answer mentions 'bịa'."""

    def do_POST(self):  # noqa: N802 - http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        verdict = "KHÔNG" if "bịa" in prompt.split("Câu trả lời:")[-1] else "CÓ."
        payload = {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": verdict},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_llm_judge_scores_answers_and_skips_cleanly():
    from evals.judge import FaithfulnessJudge, parse_verdict, run_judge

    assert (
        parse_verdict("Có.") == 1.0 and parse_verdict("KHÔNG") == 0.0 and parse_verdict("?") is None
    )
    citation = {"text": "GDP quý III tăng 7,4%."}
    preds = [
        {
            "id": "a",
            "question": "GDP?",
            "answer": "GDP tăng 7,4% [1]",
            "refused": False,
            "citations": [citation],
        },
        {
            "id": "b",
            "question": "GDP?",
            "answer": "GDP tăng 9% (bịa) [1]",
            "refused": False,
            "citations": [citation],
        },
        {
            "id": "c",
            "question": "?",
            "answer": "Tôi không tìm thấy",
            "refused": True,
            "citations": [],
        },
    ]
    assert "HOIDAP_LLM_BASE_URL" in run_judge(Settings.load(), preds)["skipped"]

    server = ThreadingHTTPServer(("127.0.0.1", 0), _JudgeHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = Settings.load(
            env={
                "HOIDAP_LLM_BASE_URL": f"http://127.0.0.1:{server.server_port}/v1",
                "HOIDAP_LLM_MODEL": "judge",
            }
        )
        result = FaithfulnessJudge.from_settings(settings).judge(preds)
    finally:
        server.shutdown()
    assert result["faithfulness"] == 0.5 and result["n_judged"] == 2 and result["model"] == "judge"
