"""Article-absent questions: the corpus loses their contexts, the questions stay."""

from __future__ import annotations

import json
import random

from evals.datasets import load_squad
from evals.reader.absent import absent_squad, pick_absent, seed_index
from evals.reader.data import Row


def _rows() -> list[Row]:
    rows = []
    for c in range(10):
        context = f"Điều {c}. Người lao động được nghỉ {c + 3} ngày mỗi năm."
        for q in range(3):  # three questions share each context
            rows.append(
                Row(f"Điều {c} cho nghỉ bao nhiêu ngày? ({q})", f"{c + 3} ngày", context, True)
            )
    return rows


def test_pick_absent_takes_one_question_per_context_and_keeps_most_contexts():
    rows = _rows()
    picked = pick_absent(rows, list(range(len(rows))), 50, random.Random(0))
    contexts = [rows[i].context for i in picked]
    assert len(contexts) == len(set(contexts))  # one question per removed context
    assert len(picked) == 2  # at most a fifth of the 10 contexts is removed
    assert pick_absent(rows, list(range(len(rows))), 50, random.Random(0)) == picked  # seeded


def test_absent_squad_drops_the_contexts_and_asks_their_questions_as_unanswerable(tmp_path):
    rows = _rows()
    picked = pick_absent(rows, list(range(len(rows))), 50, random.Random(1))
    path = tmp_path / "absent.json"
    path.write_text(json.dumps(absent_squad(rows, picked, "toy"), ensure_ascii=False))
    ds = load_squad(path)
    corpus = {doc["text"] for doc in ds.corpus.values()}
    assert len(corpus) == 8
    for i in picked:
        assert rows[i].context not in corpus
    assert [item.question for item in ds.items] == [rows[i].question for i in picked]
    assert all(not item.answerable and item.answers == [] for item in ds.items)


def test_seed_index_copies_once_and_never_overwrites(tmp_path):
    source, target = tmp_path / "a" / "index", tmp_path / "b" / "index"
    source.mkdir(parents=True)
    (source / "store.bin").write_text("full")
    seed_index(source, target)
    assert (target / "store.bin").read_text() == "full"
    (target / "store.bin").write_text("synced")
    seed_index(source, target)
    assert (target / "store.bin").read_text() == "synced"
    seed_index(tmp_path / "missing", tmp_path / "c" / "index")
    assert not (tmp_path / "c").exists()
