"""`hoidap eval compare`: per-metric deltas and the questions whose outcome changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assistant.cli import main
from evals.compare import compare_runs, flat_metrics
from evals.runner import EvalOptions, run_eval
from index.config import Settings

BEIR = Path(__file__).resolve().parent / "data" / "eval" / "beir_vi"


@pytest.fixture
def two_runs(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """Run A on the tiny BEIR set; run B on a copy whose q1 gold moved to an unrelated doc."""
    monkeypatch.setenv("HOIDAP_EMBEDDER", "fake")
    settings = Settings.load()
    changed = tmp_path / "beir_changed"
    shutil.copytree(BEIR, changed)
    qrels = changed / "qrels" / "test.tsv"
    qrels.write_text(
        qrels.read_text(encoding="utf-8").replace("q1\td01", "q1\td04"), encoding="utf-8"
    )
    options = EvalOptions(judge=False, plots=False)
    run_a = run_eval(BEIR, tmp_path / "a", settings, options=options)
    run_b = run_eval(changed, tmp_path / "b", settings, options=options)
    return run_a.out_dir, run_b.out_dir


def test_compare_lists_deltas_and_changed_questions(two_runs, capsys):
    a, b = two_runs
    result = compare_runs(a, b)
    rep_a = json.loads((a / "report.json").read_text(encoding="utf-8"))
    rep_b = json.loads((b / "report.json").read_text(encoding="utf-8"))
    deltas = {name: (va, vb) for name, va, vb in result.deltas}
    assert deltas["retrieval.P@1"] == (rep_a["retrieval"]["P@1"], rep_b["retrieval"]["P@1"])
    assert set(deltas) == set(flat_metrics(rep_a)) and "retrieval.n_judged" not in deltas

    preds_a = {
        json.loads(x)["id"]: json.loads(x)
        for x in (a / "predictions.jsonl").read_text().splitlines()
    }
    preds_b = {
        json.loads(x)["id"]: json.loads(x)
        for x in (b / "predictions.jsonl").read_text().splitlines()
    }
    expected = {q for q in preds_a if preds_a[q]["outcome"] != preds_b[q]["outcome"]}
    assert expected == {"q1"}  # only q1's gold changed
    assert [(c.id, c.before, c.direction) for c in result.changes] == [("q1", "top1", "regressed")]
    assert any("different data sets" in w for w in result.warnings)

    assert main(["eval", "compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    drop = 100 * (rep_b["retrieval"]["P@1"] - rep_a["retrieval"]["P@1"])
    assert f"{drop:+.2f}" in out and "retrieval.nDCG@10" in out
    assert "regressed  q1: top1 -> " in out and "regressed 1, improved 0" in out


def test_compare_same_run_reports_no_change(two_runs, capsys):
    a, _ = two_runs
    assert main(["eval", "compare", str(a), str(a)]) == 0
    out = capsys.readouterr().out
    assert "No question changed outcome" in out and "+0.00" in out
    assert not any(line.startswith("!") for line in out.splitlines())  # same data, same config


def test_compare_rejects_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["eval", "compare", str(tmp_path), str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "not an eval run folder" in err and "Traceback" not in err
