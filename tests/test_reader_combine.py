"""How the reader's answerability thresholds are chosen on validation readings."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.answering.reader.runtime import Reading, SentenceScore


def _reading(question: str, logits: list[float]) -> Reading:
    sentences = [f"Câu số {i} nói về quy định thứ {i}." for i in range(len(logits))]
    spans, scores, at = [], [], 0
    for i, (s, logit) in enumerate(zip(sentences, logits, strict=True)):
        spans.append((at, at + len(s)))
        scores.append(SentenceScore(0, i, s, float(1 / (1 + np.exp(-logit))), logit, None))
        at += len(s) + 1
    return Reading(question, scores, [max(logits)], [" ".join(sentences)], [spans])


def _rows(collection: str, answerable_mean: float, n: int, rng: np.random.Generator) -> list:
    rows = []
    for i in range(n):
        answerable = i % 3 != 0
        best = rng.normal(answerable_mean if answerable else -2.0, 1.0)
        question = f"Quy định thứ {i} là gì?"
        rows.append(
            {
                "collection": collection,
                "question": question,
                "answerable": answerable,
                "answers": ["quy định"] if answerable else [],
                "reading": _reading(question, [best, best - 2.0]),
                "checks": None,
            }
        )
    return rows


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(0)
    return _rows("easy", 2.0, 150, rng) + _rows("hard", 0.5, 150, rng)


def test_the_collection_whose_answers_score_lower_sets_the_threshold(rows):
    from evals.reader.combine import combine

    result = combine(rows)
    by = result["combiner"]["threshold_by_collection"]
    assert by["hard"] < by["easy"]
    assert result["threshold"] == pytest.approx(by["hard"])
    assert result["llm_floor"] <= result["threshold"]
    assert result["threshold_target_false_refusals"] == 0.05


def test_on_average_the_easier_collection_leaves_room_for_a_higher_threshold(rows):
    from evals.reader.combine import combine

    every, average = combine(rows), combine(rows, policy="average")
    assert average["threshold_policy"] == "average" and every["threshold_policy"] == "every"
    assert every["threshold"] < average["threshold"]
    rates = average["combiner"]["false_refusals_by_collection_at_threshold"]
    assert rates["hard"] > 0.05 > rates["easy"] and np.mean(list(rates.values())) <= 0.05


def test_a_stricter_false_refusal_target_lowers_the_threshold(rows):
    from evals.reader.combine import combine

    loose, strict = combine(rows, 0.10), combine(rows, 0.01)
    assert strict["threshold"] < loose["threshold"]
    assert strict["llm_floor"] <= strict["threshold"]
    assert strict["threshold_target_false_refusals"] == 0.01


def test_an_impossible_false_refusal_target_is_a_clear_error(tmp_path):
    from evals.reader.combine import main

    with pytest.raises(SystemExit, match="--false-refusals must be in"):
        main(["--model", str(tmp_path), "--cache", str(tmp_path), "--false-refusals", "1.5"])


def test_reader_only_offers_no_hand_written_input(rows):
    from assistant.answering.reader.answerability import CHECK_FEATURES
    from evals.reader.combine import combine

    result = combine(rows, reader_only=True)
    assert result["combiner"]["check_score_weight"] == 0.0
    assert list(result["combiner"]["first_sentence_gold_by_weight"]) == ["0.0"]
    assert all(name.startswith("reader ") for name in result["combiner"]["auc_by_model"])
    assert not set(result["answerability"]["features"]) & set(CHECK_FEATURES)
    offered = combine(rows)["combiner"]["auc_by_model"]
    assert any(name.startswith("reader+checks") for name in offered)


def test_cached_readings_that_no_longer_load_are_read_again(tmp_path):
    import pickle

    from evals.reader.combine import cached_readings

    assert cached_readings(tmp_path / "none.pkl") is None
    good = tmp_path / "good.pkl"
    good.write_bytes(pickle.dumps([{"question": "q"}]))
    assert cached_readings(good) == [{"question": "q"}]
    moved = tmp_path / "moved.pkl"  # saved by a module that has moved since
    import sys
    import types

    gone = types.ModuleType("hoidap_moved_module")

    class Kept:
        pass

    Kept.__module__, Kept.__qualname__ = gone.__name__, "Kept"
    gone.Kept = Kept
    sys.modules[gone.__name__] = gone
    try:
        moved.write_bytes(pickle.dumps([Kept()]))
    finally:
        del sys.modules[gone.__name__]
    assert cached_readings(moved) is None
