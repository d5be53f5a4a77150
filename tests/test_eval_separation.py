"""`hoidap eval separation`: how well a run's support scores rank answerable questions
above unanswerable ones, and what the best single threshold would refuse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.cli import main
from evals.reader.validate import auc, threshold_at
from evals.separation import separation


def _run(folder: Path, scores: list[tuple[bool, float | None]]) -> Path:
    """A run folder as `hoidap eval --out` writes it, with only the fields read here."""
    folder.mkdir(parents=True)
    preds = [
        {"id": f"q{i}", "answerable": ok, "top_score": s, "refused": s is None}
        for i, (ok, s) in enumerate(scores)
    ]
    (folder / "predictions.jsonl").write_text(
        "".join(json.dumps(p) + "\n" for p in preds), encoding="utf-8"
    )
    (folder / "report.json").write_text("{}", encoding="utf-8")
    return folder


ANSWERABLE = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1]
UNANSWERABLE = [0.65, 0.35, 0.25, 0.12, 0.05]


def test_auc_and_ceiling_by_hand(tmp_path):
    run = _run(tmp_path / "r", [(True, s) for s in ANSWERABLE] + [(False, s) for s in UNANSWERABLE])
    sep = separation(str(run), targets=(0.0, 0.1, 0.2))
    # Pairs an answerable question wins: 0.65 is beaten by 3, 0.35 by 6, 0.25 by 7,
    # 0.12 by 9, 0.05 by all 10.
    assert sep.auc == pytest.approx((3 + 6 + 7 + 9 + 10) / 50)
    assert (sep.answerable, sep.unanswerable) == (10, 5)
    # No false refusal allowed: refuse below the lowest answerable score (0.1): one refused.
    assert sep.ceiling[0.0] == (0.1, pytest.approx(1 / 5))
    # One in ten may be refused: threshold 0.15 refuses 0.1 and, of the others, 0.12, 0.05.
    assert sep.ceiling[0.1] == (0.15, pytest.approx(2 / 5))
    assert sep.ceiling[0.2] == (0.2, pytest.approx(2 / 5))


def test_ties_count_half_and_a_missing_score_ranks_last(tmp_path):
    assert auc([0.5], [0.5]) == 0.5
    run = _run(tmp_path / "r", [(True, 0.2), (True, None), (False, 0.1)])
    sep = separation(str(run), targets=(0.5,))
    assert sep.auc == 0.5  # the unscored answerable question loses to everything
    assert threshold_at([0.3, 0.1, 0.2], 0.34) == 0.2


def test_runs_pool_with_plus_and_one_sided_runs_are_refused(tmp_path, capsys):
    answered = _run(tmp_path / "run", [(True, s) for s in ANSWERABLE])
    absent = _run(tmp_path / "run-absent", [(False, s) for s in UNANSWERABLE])
    pooled = separation(f"{answered}+{absent}", targets=(0.1,))
    assert (pooled.answerable, pooled.unanswerable) == (10, 5)
    assert main(["eval", "separation", str(absent)]) == 1
    err = capsys.readouterr().err
    assert "answerable and unanswerable" in err and "Traceback" not in err


def test_cli_prints_one_row_per_run_and_rejects_bad_targets(tmp_path, capsys):
    a = _run(tmp_path / "a", [(True, s) for s in ANSWERABLE] + [(False, s) for s in UNANSWERABLE])
    b = _run(tmp_path / "b", [(True, 0.9), (False, 0.1)])
    assert main(["eval", "separation", str(a), str(b), "--targets", "0.1"]) == 0
    out = capsys.readouterr().out
    assert f"| {a} | 10 | 5 | 0.700 | 40.0 % (0.150) |" in out
    assert f"| {b} | 1 | 1 | 1.000 | 100.0 % (0.900) |" in out
    assert main(["eval", "separation", str(a), "--targets", "5"]) == 1
    assert "--targets must be shares between 0 and 1" in capsys.readouterr().err
