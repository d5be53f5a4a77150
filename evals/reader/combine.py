"""Fit how the reader and the earlier checks combine, on validation questions only.

Through the whole assistant (retrieval over each collection's full context set), the
validation questions of the reader's own training collections (the 10 % it did not train
on, ``train.split_examples``) and their swapped-detail versions are read once; then

- the weight of the earlier answerer's sentence score in the ranking is chosen by grid
  search (the share of answerable questions whose first sentence holds the answer), and
- the answerability model (reader outputs + the checks as inputs) is fitted on half of
  the questions and its thresholds chosen on the other half (≤ 5 % false refusals unless
  ``--false-refusals`` says otherwise, and ≤ 2 % for the floor in front of an LLM, on each
  validation collection).

The seed QA sets are never used. Results go into the model's ``reader.json``.

    python -m evals.reader.combine --model assistant/answering/reader/model --cache runs/combine
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import pickle
import random
from pathlib import Path

import numpy as np

from assistant.answering.assistant import Assistant
from assistant.answering.reader.answerability import CHECK_FEATURES, FEATURES, fit
from assistant.answering.reader.answerer import choose, compose, ranking_scores
from evals.corpus import eval_settings, index_corpus
from evals.datasets import load_squad
from evals.metrics import contains_answer, token_f1
from evals.reader.absent import absent_squad, pick_absent, seed_index
from evals.reader.data import read_collection
from evals.reader.train import DEFAULT_ROOT, split_examples
from evals.reader.validate import (
    TARGET_FALSE_REFUSALS,
    TARGET_LLM_FALSE_REFUSALS,
    auc,
    macro_threshold_at,
    threshold_at,
)
from index.config import Settings
from index.embedders import get_embedder

WEIGHTS = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 64.0)
MARGINS = (None, 0.5, 1.0, 2.0, 3.0, 5.0, 1e9)  # None: the runner-up joins only as a neighbour
# A second sentence is worth citing when, over the questions it is added to, it brings the
# answer at least this often: the margin maximises contains - SENTENCE_COST x (sentences - 1).
SENTENCE_COST = 0.1


def validation_squad(root: Path, collection: str, questions: list[tuple[str, str, bool]]) -> dict:
    """SQuAD-v2 JSON: all contexts of ``collection``; the given (question, answer, answerable)."""
    rows = read_collection(root, collection)
    paragraphs = {r.context: {"context": r.context, "qas": []} for r in rows}
    first = next(iter(paragraphs.values()))
    for i, (q, a, ok) in enumerate(questions):
        entry = {"id": f"{collection}-v{i}", "question": q, "is_impossible": not ok}
        entry["answers"] = [{"text": a, "answer_start": 0}] if ok else []
        first["qas"].append(entry)  # retrieval is not scored here: any paragraph holds them
    return {"version": "v2.0", "data": [{"title": "", "paragraphs": list(paragraphs.values())}]}


def _gold_sentence(text: str, answers: list[str]) -> bool:
    return contains_answer(text, answers) or token_f1(text, answers) >= 0.5


def validation_questions(val: list, name: str) -> list[tuple[str, str, bool]]:
    """(question, answer, answerable) of one collection's validation examples, sorted: the
    first ``2 x limit`` fit the answerability model, the rest stay unseen
    (``evals.reader.open_test``)."""
    return sorted(
        {
            (e.question, e.meta.get("answer", ""), e.kind == "positive")
            for e in val
            if e.collection == name and e.kind in ("positive", "question_negative")
        }
    )


def read_validation(model: Path, root: Path, cache: Path, seed: int, limit: int) -> list[dict]:
    """Validation questions as the assistant reads them, per training collection: the
    answerable ones and their swapped-detail versions over the whole collection, and up
    to ``limit // 2`` answerable ones asked with their own context removed (``absent``)."""
    from evals.reader.data import load_examples

    card = json.loads((model / "reader.json").read_text())
    collections = card["train_collections"]
    examples = load_examples(root, collections, seed, bool(card.get("hard_negatives")))
    _, val = split_examples(examples, random.Random(seed))
    rows = []
    for name in collections:
        qs = validation_questions(val, name)[: 2 * limit]
        if not qs:
            continue  # the validation split may fall in one collection (train.split_examples)
        folder = cache / name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "validation.json"
        path.write_text(json.dumps(validation_squad(root, name, qs), ensure_ascii=False))
        rows += _read(model, path, folder, name)
        collection = read_collection(root, name)
        asked = {q for q, _, ok in qs if ok}
        candidates = [i for i, r in enumerate(collection) if r.question in asked]
        picked = pick_absent(collection, candidates, limit // 2, random.Random(f"{seed}:{name}"))
        if picked:
            absent = folder / "absent"
            seed_index(folder / "index", absent / "index")
            path = absent / "absent.json"
            path.write_text(json.dumps(absent_squad(collection, picked, name), ensure_ascii=False))
            rows += [dict(r, kind="absent") for r in _read(model, path, absent, name)]
    return rows


def _read(model: Path, path: Path, folder: Path, name: str) -> list[dict]:
    """Every question of the SQuAD file ``path`` read by the reader over its corpus."""
    ds = load_squad(path)
    base = Settings.load()
    settings = dataclasses.replace(
        eval_settings(base, folder),
        answerer="reader",
        reader_dir=str(model),
        refusal_threshold=0.0,
    )
    embedder = get_embedder(settings.embedder, settings)
    index_corpus(ds.corpus, settings, embedder)
    assistant = Assistant(settings, embedder=embedder)
    rows = []
    for item in ds.items:
        analysis = assistant.analyse(item.question)
        if analysis.reading is None:
            continue
        rows.append(
            {
                "collection": name,
                "question": analysis.reading.question,
                "answerable": item.answerable,
                "kind": "answerable" if item.answerable else "swapped",
                "answers": item.answers,
                "reading": analysis.reading,
                "checks": analysis.checks,
            }
        )
    print(name, path.name, len(ds.items), "questions read", flush=True)
    return rows


POLICIES = ("every", "average")


def policy_threshold(groups: list[list[float]], target: float, policy: str) -> float:
    """The refusal threshold for per-collection answerable supports under ``policy``."""
    if policy == "average":
        return macro_threshold_at(groups, target)
    return min(threshold_at(v, target) for v in groups)


def combine(
    rows: list[dict],
    target: float = TARGET_FALSE_REFUSALS,
    reader_only: bool = False,
    policy: str = "every",
) -> dict:
    """``target``: the share of each validation collection's answerable questions the
    threshold may refuse (the LLM floor: ``TARGET_LLM_FALSE_REFUSALS``, never above it),
    on every collection or on their average (``policy``).
    ``reader_only``: the hand-written answerer's score and checks are not offered as
    inputs (ranking weight 0, answerability on the reader's own outputs)."""
    answerable = [i for i, r in enumerate(rows) if r["answerable"] and r["answers"]]
    best_w, accs = choose_weight(rows, answerable, (0.0,) if reader_only else WEIGHTS)
    chosen = [choose(r["question"], r["reading"], r["checks"], best_w) for r in rows]
    values = [v for _, v in chosen]
    margins = answer_by_margin(rows, chosen, answerable, best_w)
    labels = [int(r["answerable"]) for r in rows]
    idx = np.arange(len(rows))
    fit_idx, pick_idx = idx[::2], idx[1::2]
    offered = [("reader", FEATURES)]
    if not reader_only:
        offered.append(("reader+checks", FEATURES + CHECK_FEATURES))
    candidates = fit_candidates(values, labels, fit_idx, pick_idx, offered)
    chosen_name = max(candidates, key=lambda k: candidates[k][0])
    model = candidates[chosen_name][1]
    support = np.array([model.probability(v) for v in values])
    # The false-refusal target holds on every validation collection (``every``: a domain
    # whose answerable questions score lower sets it, and the held-out one will be another
    # domain again) or on their average, each counted once (``average``: the smallest
    # collection's few questions do not decide alone). Pooled, the largest would.
    by_collection = _answerable_by_collection(rows, labels, support, pick_idx)
    t = policy_threshold(list(by_collection.values()), target, policy)
    floor = policy_threshold(list(by_collection.values()), TARGET_LLM_FALSE_REFUSALS, policy)

    def held_auc(scores) -> float:
        pos = [scores[i] for i in pick_idx if labels[i]]
        return round(auc(pos, [scores[i] for i in pick_idx if not labels[i]]), 4)

    return {
        "threshold": round(t, 6),
        "llm_floor": round(min(floor, t), 6),
        "threshold_target_false_refusals": target,
        "threshold_policy": policy,
        "answerability": model.to_json(),
        "combiner": {
            "check_score_weight": best_w,
            "first_sentence_gold_by_weight": accs,
            "answer_by_second_sentence_margin": margins,
            "second_sentence_margin": choose_margin(margins),
            "validation_questions": len(rows),
            "answerable": int(sum(labels)),
            "auc_reader_logit": held_auc([float(v["best_logit"]) for v in values]),
            "auc_answerability": held_auc(support),
            "answerability_model": chosen_name,
            "auc_by_model": {k: round(v[0], 4) for k, v in candidates.items()},
            **_threshold_report(rows, support, pick_idx, by_collection, t, target),
        },
    }


def _answerable_by_collection(rows, labels, support, pick_idx) -> dict[str, list[float]]:
    """The held half's answerable supports, per validation collection."""
    by_collection: dict[str, list[float]] = {}
    for i in pick_idx:
        if labels[i] == 1:
            by_collection.setdefault(rows[i]["collection"], []).append(support[i])
    return by_collection


def choose_weight(rows: list[dict], answerable: list[int], weights) -> tuple[float, dict]:
    """The ranking weight of the hand-written score under which the first sentence holds
    the answer most often (ties: the smaller weight), and that share for every weight."""
    best_w, best_acc, accs = 0.0, -1.0, {}
    for w in weights:
        ranked = [choose(r["question"], r["reading"], r["checks"], w) for r in rows]
        acc = float(
            np.mean([_gold_sentence(ranked[i][0][0].text, rows[i]["answers"]) for i in answerable])
        )
        accs[str(w)] = round(acc, 4)
        if acc > best_acc + 1e-9:
            best_w, best_acc = w, acc
    return best_w, accs


def fit_candidates(values, labels, fit_idx, pick_idx, offered) -> dict:
    """Answerability models per offered feature set and regularisation, fitted on one half
    and scored (AUC) on the other: few validation questions, so the held half chooses."""
    candidates = {}
    for label, names in offered:
        for l2 in (1.0, 10.0, 100.0):
            m = fit([values[i] for i in fit_idx], [labels[i] for i in fit_idx], names, l2=l2)
            pos = [m.probability(values[i]) for i in pick_idx if labels[i] == 1]
            neg = [m.probability(values[i]) for i in pick_idx if labels[i] == 0]
            candidates[f"{label} l2={l2:g}"] = (auc(pos, neg), m)
    return candidates


def _threshold_report(rows, support, pick_idx, by_collection, t: float, target: float) -> dict:
    """What the chosen threshold refuses on the held half, per kind and per collection."""
    return {
        "swapped_refused_at_threshold": _refused(rows, support, pick_idx, t, "swapped"),
        "absent_refused_at_threshold": _refused(rows, support, pick_idx, t, "absent"),
        "threshold_by_collection": {
            name: round(threshold_at(v, target), 6) for name, v in sorted(by_collection.items())
        },
        "false_refusals_by_collection_at_threshold": {
            name: round(float(np.mean(np.array(v) < t)), 4)
            for name, v in sorted(by_collection.items())
        },
    }


def answer_by_margin(rows: list[dict], chosen, answerable: list[int], weight: float) -> dict:
    """Per runner-up margin: the share of answerable questions whose cited sentences hold
    the answer, and how many sentences an answer cites on average."""
    out = {}
    top_two = {i: ranking_scores(chosen[i][0][:2], rows[i]["checks"], weight) for i in answerable}
    for margin in MARGINS:
        hits, lengths = [], []
        for i in answerable:
            cited = compose(rows[i]["reading"], chosen[i][0], top_two[i], margin)
            hits.append(contains_answer(" ".join(s.text for s in cited), rows[i]["answers"]))
            lengths.append(len(cited))
        out[str(margin)] = {
            "contains": round(float(np.mean(hits)), 4) if hits else None,
            "sentences": round(float(np.mean(lengths)), 3) if lengths else None,
        }
    return out


def choose_margin(by_margin: dict) -> float | None:
    """The runner-up margin whose answers hold the gold most often, each extra sentence
    cited costing ``SENTENCE_COST`` (ties: the shorter answers)."""
    best, best_value = None, -1.0
    for margin in MARGINS:
        m = by_margin.get(str(margin), {})
        if m.get("contains") is None:
            continue
        value = m["contains"] - SENTENCE_COST * (m["sentences"] - 1.0)
        if value > best_value + 1e-9:
            best, best_value = margin, value
    return best


def _refused(rows: list[dict], support, idx, threshold: float, kind: str) -> float | None:
    """Share of the held half's unanswerable questions of ``kind`` refused at ``threshold``."""
    picked = [
        support[i]
        for i in idx
        if not rows[i]["answerable"] and rows[i].get("kind", "swapped") == kind
    ]
    return round(float(np.mean(np.array(picked) < threshold)), 4) if picked else None


# Bumped whenever what the reader is given changes (sentence splitting, windows, the
# question embedding behind the dense cosines): cached readings of an earlier version must
# not be fitted on.
READING_VERSION = (
    "7: dense cosines; context-absent questions; version years are not missing numbers; "
    "questions embedded by the all-int8 query graph"
)


def _model_key(model: Path) -> str:
    """Readings depend on the model, on how many passages it reads and on how it reads."""
    digest = hashlib.sha256((model / "reader.onnx").read_bytes())
    digest.update(str(Settings.load().reader_passages).encode())
    digest.update(READING_VERSION.encode())
    return digest.hexdigest()[:16]


def cached_readings(path: Path) -> list[dict] | None:
    """Readings saved by an earlier run, or None when there are none or they no longer
    load (saved by a version whose classes have moved or changed): then they are re-read."""
    if not path.is_file():
        return None
    try:
        return pickle.loads(path.read_bytes())
    except (pickle.UnpicklingError, ImportError, AttributeError, EOFError) as exc:
        print(f"cached readings {path} do not load ({exc}); reading again", flush=True)
        return None


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="reader folder (reader.json is updated)")
    p.add_argument("--cache", required=True, help="folder for the validation indexes")
    p.add_argument("--data", default=str(DEFAULT_ROOT))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=150, help="answerable questions per collection")
    p.add_argument(
        "--false-refusals",
        type=float,
        default=TARGET_FALSE_REFUSALS,
        help="share of each validation collection's answerable questions the threshold may "
        "refuse (default %(default)s)",
    )
    p.add_argument(
        "--reader-only",
        action="store_true",
        help="no hand-written score or check as an input (ranking and answerability)",
    )
    p.add_argument(
        "--threshold-policy",
        choices=POLICIES,
        default="every",
        help="the false-refusal target holds on every validation collection, or on their "
        "average (each collection counted once); default %(default)s",
    )
    args = p.parse_args(argv)
    if not 0.0 <= args.false_refusals < 1.0:
        raise SystemExit(f"--false-refusals must be in [0, 1), got {args.false_refusals}.")
    model = Path(args.model)
    readings = Path(args.cache) / f"readings-{_model_key(model)}.pkl"
    rows = cached_readings(readings)  # the same model's readings: only the fit is redone
    if rows is None:
        rows = read_validation(model, Path(args.data), Path(args.cache), args.seed, args.limit)
        if not rows:
            raise SystemExit(
                f"No validation question was read with the reader in {model}; nothing to fit."
            )
        readings.write_bytes(pickle.dumps(rows))
    result = combine(rows, args.false_refusals, args.reader_only, args.threshold_policy)
    card_path = model / "reader.json"
    card = json.loads(card_path.read_text())
    card.update(result)
    card_path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({k: result[k] for k in ("threshold", "llm_floor", "combiner")}))


if __name__ == "__main__":
    main()
