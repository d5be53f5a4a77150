"""Validate the hand-checked QA datasets (evals/data/seed_qa.jsonl and holdout_qa.jsonl).

Every answerable question's gold answers must occur verbatim (in match form: NFC, one tone
style, lower-case) in at least one of its gold source files, so that "the generated answer
contains a gold answer" is a meaningful check.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from index.normalize import canonical_syllable, has_diacritics, match_form, nfc

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "evals" / "data" / "seed_qa.jsonl"
# Written separately from the seed set and never used to fit anything (see evals/README.md).
HOLDOUT = ROOT / "evals" / "data" / "holdout_qa.jsonl"
SEEDS = ROOT / "seeds"

KINDS = {
    "fact",
    "number",
    "date",
    "doc_number",
    "list",
    "abbreviation",
    "no_diacritics",
    "tone_style",
    "followup",
    "crosslingual",
    "unanswerable",
}
REQUIRED = {
    "id": str,
    "question": str,
    "answers": list,
    "sources": list,
    "answerable": bool,
    "kind": str,
}
OPTIONAL = {"history": list, "items": list}
ID_RE = re.compile(r"^[qh]\d{3,}$")
WORD_RE = re.compile(r"\w+", re.UNICODE)


def _load_lines(path: Path = DATA) -> list[str]:
    return [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def _load(path: Path) -> list[dict]:
    return [json.loads(ln) for ln in _load_lines(path)]


SEED_RECORDS = _load(DATA)
RECORDS = SEED_RECORDS + _load(HOLDOUT)


def _seed_text(name: str) -> str:
    return (SEEDS / name).read_text(encoding="utf-8")


def _ids(records: list[dict]) -> list[str]:
    return [r["id"] for r in records]


def test_every_line_is_a_json_object() -> None:
    for path in (DATA, HOLDOUT):
        for n, line in enumerate(_load_lines(path), 1):
            obj = json.loads(line)
            assert isinstance(obj, dict), f"{path.name} line {n} is not an object"


def test_ids_unique_and_well_formed() -> None:
    ids = _ids(RECORDS)
    dupes = [i for i, c in Counter(ids).items() if c > 1]
    assert not dupes, f"duplicate ids: {dupes}"
    assert all(ID_RE.match(i) for i in ids), "ids must look like q001 (seed) or h001 (holdout)"


@pytest.mark.parametrize("rec", RECORDS, ids=_ids(RECORDS))
def test_fields_and_types(rec: dict) -> None:
    for field, typ in REQUIRED.items():
        assert field in rec, f"missing {field}"
        assert isinstance(rec[field], typ), f"{field} should be {typ.__name__}"
    unknown = set(rec) - set(REQUIRED) - set(OPTIONAL)
    assert not unknown, f"unknown fields {unknown}"
    for field, typ in OPTIONAL.items():
        if field in rec:
            assert isinstance(rec[field], typ)
    assert rec["question"].strip()
    assert rec["kind"] in KINDS
    assert all(isinstance(a, str) and a.strip() for a in rec["answers"])
    assert all(isinstance(s, str) for s in rec["sources"])
    assert len(set(rec["sources"])) == len(rec["sources"])


def test_dataset_size_and_coverage() -> None:
    kinds = Counter(r["kind"] for r in SEED_RECORDS)
    assert len(SEED_RECORDS) >= 80
    assert kinds["unanswerable"] >= 15
    assert set(kinds) == KINDS, f"missing kinds: {KINDS - set(kinds)}"


@pytest.mark.parametrize("rec", RECORDS, ids=_ids(RECORDS))
def test_sources_exist(rec: dict) -> None:
    for name in rec["sources"]:
        assert "/" not in name and (SEEDS / name).is_file(), f"no seed file {name}"


@pytest.mark.parametrize("rec", RECORDS, ids=_ids(RECORDS))
def test_answerable_consistency(rec: dict) -> None:
    if rec["kind"] == "unanswerable":
        assert rec["answerable"] is False
    if rec["answerable"]:
        assert rec["answers"], "answerable question without answers"
        assert rec["sources"], "answerable question without sources"
    else:
        assert rec["kind"] == "unanswerable"
        assert rec["answers"] == []
        assert rec["sources"] == []


@pytest.mark.parametrize("rec", [r for r in RECORDS if r["answerable"]], ids=lambda r: r["id"])
def test_answers_occur_in_sources(rec: dict) -> None:
    texts = [match_form(_seed_text(s)) for s in rec["sources"]]
    for ans in rec["answers"] + rec.get("items", []):
        form = match_form(ans)
        assert any(form in t for t in texts), f"{ans!r} not found in {rec['sources']}"


@pytest.mark.parametrize(
    "rec", [r for r in RECORDS if r["kind"] == "followup"], ids=lambda r: r["id"]
)
def test_followup_history(rec: dict) -> None:
    history = rec.get("history")
    assert isinstance(history, list) and history
    for turn in history:
        assert isinstance(turn, dict) and set(turn) == {"role", "content"}
        assert turn["role"] in {"user", "assistant"}
        assert isinstance(turn["content"], str) and turn["content"].strip()
    assert history[0]["role"] == "user"
    assert history[-1]["role"] == "assistant"


def test_history_only_on_followups() -> None:
    stray = [r["id"] for r in RECORDS if "history" in r and r["kind"] != "followup"]
    assert not stray


def test_items_only_on_lists() -> None:
    stray = [r["id"] for r in RECORDS if "items" in r and r["kind"] != "list"]
    assert not stray


@pytest.mark.parametrize(
    "rec", [r for r in RECORDS if r["kind"] == "no_diacritics"], ids=lambda r: r["id"]
)
def test_no_diacritics_questions_are_unaccented(rec: dict) -> None:
    assert not has_diacritics(rec["question"])


@pytest.mark.parametrize(
    "rec", [r for r in RECORDS if r["kind"] == "crosslingual"], ids=lambda r: r["id"]
)
def test_crosslingual_questions_are_english(rec: dict) -> None:
    words = WORD_RE.findall(rec["question"])
    plain = [w for w in words if not has_diacritics(w)]
    assert len(plain) >= 0.8 * len(words)


def _off_style_syllables(text: str) -> set[str]:
    """Canonical forms of syllables that ``text`` writes in the non-canonical tone style."""
    words = WORD_RE.findall(nfc(text).lower())
    return {canonical_syllable(w) for w in words if canonical_syllable(w) != w}


@pytest.mark.parametrize(
    "rec", [r for r in RECORDS if r["kind"] == "tone_style"], ids=lambda r: r["id"]
)
def test_tone_style_questions_differ_from_source_style(rec: dict) -> None:
    """The question writes some syllable in a different tone style than its source does."""
    q_words = WORD_RE.findall(nfc(rec["question"]).lower())
    q_off = _off_style_syllables(rec["question"])
    q_canon = {w for w in q_words if canonical_syllable(w) == w}
    src_text = " ".join(_seed_text(s) for s in rec["sources"])
    src_words = set(WORD_RE.findall(nfc(src_text).lower()))
    src_off = _off_style_syllables(src_text)
    # Old style in the question, new style in the source ...
    mismatch = {w for w in q_off if w in src_words}
    # ... or new style in the question where the source uses the old style.
    mismatch |= q_canon & src_off
    assert mismatch, "question uses the same tone style as its source"
