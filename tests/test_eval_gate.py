"""The quality gate on the seed QA set: the same check as `make eval`, inside `make test`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.answering.assistant import Assistant
from assistant.cli import main
from evals.gate import GateFailed, enforce, load_gate, lookup
from evals.runner import EvalOptions, QueryMemo, run_eval

ROOT = Path(__file__).resolve().parents[1]
SEED_QA = ROOT / "evals" / "data" / "seed_qa.jsonl"
GATE = ROOT / "evals" / "gate.json"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def seed_run(seed_settings, seed_assistant, tmp_path_factory):
    """The whole seed QA set through the real assistant (real embeddings over the session index)."""
    assistant = Assistant(seed_settings, embedder=QueryMemo(seed_assistant.embedder))
    out = tmp_path_factory.mktemp("seed-eval")
    return run_eval(
        SEED_QA, out, seed_settings, assistant=assistant, options=EvalOptions(judge=False)
    )


def test_seed_qa_passes_the_gate(seed_run):
    checks = enforce(seed_run.report, GATE)
    gate = load_gate(GATE)
    assert len(checks) == len(gate["min"]) + len(gate["max"]) >= 8
    assert "latency.p95_ms" not in gate["min"] and "latency.p95_ms" not in gate["max"]
    n_questions = sum(
        1 for line in SEED_QA.read_text(encoding="utf-8").splitlines() if line.strip()
    )
    assert seed_run.report["n"] == n_questions and seed_run.report["n_errors"] == 0


def test_gate_fails_when_a_threshold_is_above_the_measured_value(seed_run, tmp_path, capsys):
    gate = load_gate(GATE)
    ndcg = lookup(seed_run.report, "retrieval.nDCG@10")
    refusals = lookup(seed_run.report, "grounding.false_refusal_rate")
    gate["min"]["retrieval.nDCG@10"] = ndcg + 0.001
    gate["max"]["grounding.false_refusal_rate"] = refusals - 0.001
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps(gate), encoding="utf-8")

    with pytest.raises(GateFailed) as info:
        enforce(seed_run.report, strict)
    message = info.value.message_en
    assert "2 of" in message and "retrieval.nDCG@10" in message
    assert "grounding.false_refusal_rate" in message and "answers.contains" not in message

    assert main(["eval", "gate", str(seed_run.out_dir), "--gate", str(strict)]) == 1
    captured = capsys.readouterr()
    assert "retrieval.nDCG@10" in captured.err and "Traceback" not in captured.err
    assert main(["eval", "gate", str(seed_run.out_dir), "--gate", str(GATE)]) == 0
    assert "quality gate passed" in capsys.readouterr().out
