"""Evaluation data sets, loaded from four on-disk formats into one in-memory shape.

Formats (detected by :func:`load_dataset` from the path):

* **BEIR** (``format="beir"``, retrieval only): a directory holding ``corpus.jsonl``
  (``{"_id", "title", "text"}``), ``queries.jsonl`` (``{"_id", "text"}``) and
  ``qrels/test.tsv`` (tab-separated ``query-id  corpus-id  score`` with that header).
  Items are the queries that appear in the qrels, in ``queries.jsonl`` order; each
  item's ``sources`` are its docids with score >= 1.
* **QA JSONL** (``format="qa_jsonl"``, our own): a ``.jsonl`` file, one object per line
  with ``id``, ``question`` and optionally ``answers``, ``sources``, ``answerable``,
  ``history``, ``kind`` (see :func:`iter_qa_jsonl`). Sources refer to the indexed
  articles, so ``corpus`` is ``None``.
* **SQuAD / SQuAD v2 / UIT-ViQuAD** (``format="squad"``): a ``.json`` file
  ``{"data": [{"title", "paragraphs": [{"context", "qas": [{"id", "question",
  "answers": [{"text"}], "is_impossible"}]}]}]}``.
* **CSV** (``format="csv"``): a ``.csv`` file with columns ``context, question,
  answer`` (more columns are allowed; ``id`` or ``idx`` names the question).

For SQuAD and CSV the corpus is the set of distinct contexts, with docids ``c0, c1, …``
in first-seen order; two contexts are the same when they are equal after NFKC and
whitespace folding. Each question's gold source is its own context. Unanswerable
questions (``is_impossible`` / empty CSV answer) keep that source in ``sources`` but get
no qrels entry, so retrieval metrics are computed over answerable questions only.

Line-oriented files (JSONL, TSV, CSV) are streamed line by line; a malformed line raises
:class:`DatasetFormatError` naming the file and line. A SQuAD ``.json`` file is a single
JSON document and is parsed whole (errors name the JSON line/column or the item path).
"""

from __future__ import annotations

import csv
import json
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.errors import HoidapError

__all__ = [
    "QAItem",
    "Dataset",
    "DatasetFormatError",
    "load_dataset",
    "iter_qa_jsonl",
    "load_beir",
    "load_qa_jsonl",
    "load_squad",
    "load_csv",
    "context_key",
]

FORMATS_EXPECTED = (
    "a BEIR directory (corpus.jsonl, queries.jsonl, qrels/test.tsv), "
    "a QA .jsonl file, a SQuAD/SQuAD-v2 .json file, or a .csv file with columns "
    "context,question,answer"
)
_FORMATS_VI = (
    "thư mục BEIR (corpus.jsonl, queries.jsonl, qrels/test.tsv), tệp .jsonl hỏi-đáp, "
    "tệp .json kiểu SQuAD/SQuAD-v2, hoặc tệp .csv có các cột context,question,answer"
)


class DatasetFormatError(HoidapError):
    """An evaluation data set that cannot be read: unknown format or a malformed record."""

    code = "dataset_format_error"


@dataclass
class QAItem:
    """One evaluation question."""

    id: str
    question: str
    answers: list[str] = field(default_factory=list)  # gold answer strings (may be empty)
    sources: list[str] = field(default_factory=list)  # gold source / docids
    answerable: bool = True
    history: list[dict] | None = None  # prior turns [{"role", "content"}], oldest first
    kind: str | None = None  # free label, e.g. "factoid", "multi_turn", "unanswerable"


@dataclass
class Dataset:
    """A loaded data set. ``corpus``/``qrels`` are ``None`` when the format has none."""

    name: str
    format: str  # "beir" | "qa_jsonl" | "squad" | "csv"
    items: list[QAItem]
    corpus: dict[str, dict] | None = None  # doc_id -> {"title", "text"} for external corpora
    qrels: dict[str, dict[str, int]] | None = None  # qid -> {doc_id: relevance}


# --------------------------------------------------------------------------- helpers


def _err(where: str, what_en: str, what_vi: str | None = None) -> DatasetFormatError:
    return DatasetFormatError(f"{where}: {what_en}", f"{where}: {what_vi or what_en}")


def _iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, decoded line) for each non-blank line; decoding errors name the line."""
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _err(
                    f"{path}:{lineno}",
                    f"not valid UTF-8 ({exc.reason} at byte {exc.start})",
                    "không phải UTF-8 hợp lệ",
                ) from None
            if lineno == 1:
                line = line.lstrip("\ufeff")
            if line.strip():
                yield lineno, line


def _iter_json_objects(path: Path) -> Iterator[tuple[int, dict]]:
    for lineno, line in _iter_lines(path):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _err(
                f"{path}:{lineno}",
                f"invalid JSON ({exc.msg} at column {exc.colno})",
                f"JSON không hợp lệ ({exc.msg}, cột {exc.colno})",
            ) from None
        if not isinstance(obj, dict):
            raise _err(
                f"{path}:{lineno}",
                f"expected a JSON object, got {type(obj).__name__}",
                "mỗi dòng phải là một đối tượng JSON",
            )
        yield lineno, obj


def _id_value(value: Any) -> str | None:
    """A non-empty string id (ints are accepted and converted), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    return None


def _str_list(value: Any) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        return list(value)
    return None


def context_key(text: str) -> str:
    """Identity of a context for de-duplication: NFKC, whitespace runs folded to one space."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def _dedupe(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


class _Contexts:
    """Distinct contexts with docids c0, c1, … in first-seen order."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}
        self.corpus: dict[str, dict] = {}

    def add(self, text: str, title: str = "") -> str:
        key = context_key(text)
        doc_id = self.ids.get(key)
        if doc_id is None:
            doc_id = f"c{len(self.ids)}"
            self.ids[key] = doc_id
            self.corpus[doc_id] = {"title": title, "text": text}
        return doc_id


def _qrels_from_items(items: list[QAItem]) -> dict[str, dict[str, int]]:
    return {it.id: dict.fromkeys(it.sources, 1) for it in items if it.answerable and it.sources}


# --------------------------------------------------------------------------- QA JSONL


def _parse_history(value: Any) -> tuple[list[dict] | None, str | None]:
    if value is None:
        return None, None
    if not isinstance(value, list):
        return None, '\'history\' must be a list of {"role", "content"} objects'
    for i, turn in enumerate(value):
        if (
            not isinstance(turn, dict)
            or turn.get("role") not in ("user", "assistant")
            or not isinstance(turn.get("content"), str)
        ):
            return None, (
                f"'history'[{i}] must be an object with 'role' ('user' or 'assistant') "
                "and string 'content'"
            )
    return [dict(t) for t in value], None


def _qa_item(obj: dict) -> tuple[QAItem | None, str | None]:
    """Build a QAItem from one JSONL object, or say what is wrong with it."""
    item_id = _id_value(obj.get("id"))
    if item_id is None:
        return None, "missing or empty 'id' (a string)"
    question = obj.get("question")
    if not isinstance(question, str) or not question.strip():
        return None, "missing or empty 'question' (a string)"
    answers = _str_list(obj.get("answers", []))
    if answers is None:
        return None, "'answers' must be a list of strings"
    sources = _str_list(obj.get("sources", []))
    if sources is None:
        return None, "'sources' must be a list of strings"
    answerable = obj.get("answerable", bool(answers or sources))
    if not isinstance(answerable, bool):
        return None, "'answerable' must be true or false"
    if not answerable and any(a.strip() for a in answers):
        return None, "'answerable' is false but 'answers' is not empty"
    history, problem = _parse_history(obj.get("history"))
    if problem:
        return None, problem
    kind = obj.get("kind")
    if kind is not None and not isinstance(kind, str):
        return None, "'kind' must be a string or null"
    return QAItem(item_id, question, answers, sources, answerable, history, kind), None


def iter_qa_jsonl(path: str | Path) -> Iterator[QAItem]:
    """Stream the items of a QA JSONL file, validating each line.

    Fields: ``id`` (string, unique), ``question`` (non-empty string), ``answers`` (list of
    strings, default ``[]``), ``sources`` (list of strings, default ``[]``),
    ``answerable`` (bool; default true when answers or sources are given),
    ``history`` (list of ``{"role": "user"|"assistant", "content": str}`` or null),
    ``kind`` (string or null). Other fields are ignored. Blank lines are skipped.
    """
    path = Path(path)
    seen: dict[str, int] = {}
    for lineno, obj in _iter_json_objects(path):
        item, problem = _qa_item(obj)
        if problem:
            raise _err(f"{path}:{lineno}", problem)
        assert item is not None
        if item.id in seen:
            raise _err(
                f"{path}:{lineno}",
                f"duplicate id {item.id!r} (first on line {seen[item.id]})",
                f"id {item.id!r} bị trùng (lần đầu ở dòng {seen[item.id]})",
            )
        seen[item.id] = lineno
        yield item


def load_qa_jsonl(path: str | Path) -> Dataset:
    """Load our QA JSONL format; qrels come from ``sources`` of answerable items."""
    path = Path(path)
    items = list(iter_qa_jsonl(path))
    qrels = _qrels_from_items(items)
    return Dataset(path.stem, "qa_jsonl", items, corpus=None, qrels=qrels or None)


# --------------------------------------------------------------------------- BEIR


def _read_beir_corpus(path: Path) -> dict[str, dict]:
    corpus: dict[str, dict] = {}
    for lineno, obj in _iter_json_objects(path):
        doc_id = _id_value(obj.get("_id"))
        if doc_id is None:
            raise _err(f"{path}:{lineno}", "missing or empty '_id'")
        text = obj.get("text")
        title = obj.get("title", "")
        if not isinstance(text, str):
            raise _err(f"{path}:{lineno}", "'text' must be a string")
        if title is None:
            title = ""
        if not isinstance(title, str):
            raise _err(f"{path}:{lineno}", "'title' must be a string")
        if doc_id in corpus:
            raise _err(f"{path}:{lineno}", f"duplicate _id {doc_id!r}")
        corpus[doc_id] = {"title": title, "text": text}
    return corpus


def _read_beir_queries(path: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    for lineno, obj in _iter_json_objects(path):
        qid = _id_value(obj.get("_id"))
        if qid is None:
            raise _err(f"{path}:{lineno}", "missing or empty '_id'")
        text = obj.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _err(f"{path}:{lineno}", "missing or empty 'text'")
        if qid in queries:
            raise _err(f"{path}:{lineno}", f"duplicate _id {qid!r}")
        queries[qid] = text
    return queries


_QRELS_HEADER = ("query-id", "corpus-id", "score")


def _read_beir_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    first = True
    for lineno, line in _iter_lines(path):
        cells = [c.strip() for c in line.rstrip("\r\n").split("\t")]
        if first:
            first = False
            if tuple(c.lower() for c in cells) == _QRELS_HEADER:
                continue
        if len(cells) != 3 or not cells[0] or not cells[1]:
            raise _err(
                f"{path}:{lineno}",
                f"expected 3 tab-separated cells (query-id, corpus-id, score), got {len(cells)}",
            )
        try:
            score = int(cells[2])
        except ValueError:
            raise _err(f"{path}:{lineno}", f"score {cells[2]!r} is not an integer") from None
        qrels.setdefault(cells[0], {})[cells[1]] = score
    return qrels


def load_beir(path: str | Path, split: str = "test") -> Dataset:
    """Load a BEIR data set directory (retrieval only: items have no answers)."""
    root = Path(path)
    files = {
        "corpus": root / "corpus.jsonl",
        "queries": root / "queries.jsonl",
        "qrels": root / "qrels" / f"{split}.tsv",
    }
    missing = [str(p.relative_to(root)) for p in files.values() if not p.is_file()]
    if missing:
        raise _err(
            str(root),
            f"not a BEIR directory: missing {', '.join(missing)}; expected {FORMATS_EXPECTED}",
            f"không phải thư mục BEIR: thiếu {', '.join(missing)}; cần {_FORMATS_VI}",
        )
    corpus = _read_beir_corpus(files["corpus"])
    queries = _read_beir_queries(files["queries"])
    qrels = _read_beir_qrels(files["qrels"])
    unknown_q = [q for q in qrels if q not in queries]
    if unknown_q:
        raise _err(
            str(files["qrels"]),
            f"{len(unknown_q)} query id(s) not in queries.jsonl, e.g. {unknown_q[0]!r}",
        )
    unknown_d = sorted({d for docs in qrels.values() for d in docs if d not in corpus})
    if unknown_d:
        raise _err(
            str(files["qrels"]),
            f"{len(unknown_d)} corpus id(s) not in corpus.jsonl, e.g. {unknown_d[0]!r}",
        )
    items = [
        QAItem(
            id=qid,
            question=text,
            sources=[d for d, rel in qrels[qid].items() if rel >= 1],
            answerable=True,
        )
        for qid, text in queries.items()
        if qid in qrels
    ]
    return Dataset(root.name, "beir", items, corpus=corpus, qrels=qrels)


# --------------------------------------------------------------------------- SQuAD


def _squad_answers(qa: dict, where: str) -> list[str]:
    answers = qa.get("answers", [])
    if not isinstance(answers, list):
        raise _err(where, "'answers' must be a list")
    out: list[str] = []
    for j, ans in enumerate(answers):
        text = ans.get("text") if isinstance(ans, dict) else None
        if not isinstance(text, str):
            raise _err(where, f"answers[{j}] must be an object with a string 'text'")
        out.append(text)
    return _dedupe(out)


def _read_json(path: Path):
    """The parsed JSON file, or a clear error naming the line that is wrong."""
    try:
        with path.open(encoding="utf-8-sig") as fh:
            return json.load(fh)
    except UnicodeDecodeError as exc:
        raise _err(str(path), f"not valid UTF-8 ({exc.reason})", "không phải UTF-8") from None
    except json.JSONDecodeError as exc:
        raise _err(
            f"{path}:{exc.lineno}",
            f"invalid JSON ({exc.msg} at column {exc.colno})",
            f"JSON không hợp lệ ({exc.msg}, cột {exc.colno})",
        ) from None


def _squad_item(qa, where: str, doc_id: str, seen: set[str]) -> QAItem:
    """One checked SQuAD question (``seen``: the ids so far, this one added)."""
    if not isinstance(qa, dict):
        raise _err(where, "expected an object")
    qid = _id_value(qa.get("id"))
    if qid is None:
        raise _err(where, "missing or empty 'id'")
    if qid in seen:
        raise _err(where, f"duplicate id {qid!r}")
    seen.add(qid)
    question = qa.get("question")
    if not isinstance(question, str) or not question.strip():
        raise _err(where, "missing or empty 'question'")
    impossible = qa.get("is_impossible", False)
    if not isinstance(impossible, bool):
        raise _err(where, "'is_impossible' must be true or false")
    answers = [] if impossible else _squad_answers(qa, where)
    return QAItem(qid, question, answers, [doc_id], not impossible)


def load_squad(path: str | Path) -> Dataset:
    """Load a SQuAD v1/v2 (UIT-ViQuAD) JSON file.

    Impossible questions (``is_impossible: true``) get ``answers=[]`` and
    ``answerable=False`` (``plausible_answers`` are ignored). Without ``is_impossible`` a
    question is answerable (SQuAD v1).
    """
    path = Path(path)
    doc = _read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise _err(
            str(path),
            f"not a SQuAD file: expected a top-level object with a 'data' list; "
            f"expected {FORMATS_EXPECTED}",
            f"không phải tệp SQuAD: cần đối tượng có danh sách 'data'; cần {_FORMATS_VI}",
        )
    contexts = _Contexts()
    items: list[QAItem] = []
    seen: set[str] = set()
    for a, article in enumerate(doc["data"]):
        where_a = f"{path}: data[{a}]"
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise _err(where_a, "expected an object with a 'paragraphs' list")
        title = article.get("title") if isinstance(article.get("title"), str) else ""
        for p, para in enumerate(article["paragraphs"]):
            where_p = f"{where_a}.paragraphs[{p}]"
            if not isinstance(para, dict) or not isinstance(para.get("context"), str):
                raise _err(where_p, "expected an object with a string 'context'")
            if not isinstance(para.get("qas", []), list):
                raise _err(where_p, "'qas' must be a list")
            doc_id = contexts.add(para["context"], title)
            for q, qa in enumerate(para.get("qas", [])):
                items.append(_squad_item(qa, f"{where_p}.qas[{q}]", doc_id, seen))
    return Dataset(
        path.stem, "squad", items, corpus=contexts.corpus, qrels=_qrels_from_items(items)
    )


# --------------------------------------------------------------------------- CSV

_CSV_REQUIRED = ("context", "question", "answer")


def _csv_columns(path: Path, header: list[str]) -> tuple[list[str], dict[str, int]]:
    """The header's column names and where the needed ones are; an error names a missing one."""
    names = [h.strip().lstrip("\ufeff").lower() for h in header]
    # ViRHE4QA-style files name the span column "extractive answer".
    if "answer" not in names and "extractive answer" in names:
        names[names.index("extractive answer")] = "answer"
    missing = [c for c in _CSV_REQUIRED if c not in names]
    if missing:
        raise _err(
            f"{path}:1",
            f"missing column(s) {', '.join(missing)} (found: {', '.join(names)}); "
            f"expected {FORMATS_EXPECTED}",
            f"thiếu cột {', '.join(missing)}; cần {_FORMATS_VI}",
        )
    return names, {n: names.index(n) for n in (*_CSV_REQUIRED, "id", "idx") if n in names}


def load_csv(path: str | Path) -> Dataset:
    """Load a ``context,question,answer`` CSV (a UTF-8 BOM and extra columns are fine).

    Question ids come from an ``id`` or ``idx`` column when present, else ``q<row>``
    (0-based data row). An empty answer cell makes the question unanswerable. The answer
    cell is taken as one plain-text answer.
    """
    path = Path(path)
    items: list[QAItem] = []
    contexts = _Contexts()
    seen: dict[str, int] = {}
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            try:
                header = next(reader)
            except StopIteration:
                raise _err(str(path), "empty file: expected a header row") from None
            names, col = _csv_columns(path, header)
            id_col = col.get("id", col.get("idx"))
            row_no = 0
            for row in reader:
                line = reader.line_num
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(names):
                    raise _err(f"{path}:{line}", f"expected {len(names)} cells, got {len(row)}")
                context = row[col["context"]]
                question = row[col["question"]].strip()
                answer = row[col["answer"]].strip()
                if not context.strip():
                    raise _err(f"{path}:{line}", "empty 'context'")
                if not question:
                    raise _err(f"{path}:{line}", "empty 'question'")
                qid = row[id_col].strip() if id_col is not None else ""
                qid = qid or f"q{row_no}"
                if qid in seen:
                    raise _err(
                        f"{path}:{line}", f"duplicate id {qid!r} (first on line {seen[qid]})"
                    )
                seen[qid] = line
                doc_id = contexts.add(context)
                answers = [answer] if answer else []
                items.append(QAItem(qid, question, answers, [doc_id], bool(answer)))
                row_no += 1
    except csv.Error as exc:
        raise _err(f"{path}:{reader.line_num}", f"malformed CSV ({exc})") from None
    except UnicodeDecodeError as exc:
        raise _err(str(path), f"not valid UTF-8 ({exc.reason})", "không phải UTF-8") from None
    return Dataset(path.stem, "csv", items, corpus=contexts.corpus, qrels=_qrels_from_items(items))


# --------------------------------------------------------------------------- detection


def load_dataset(path: str | Path, *, split: str = "test") -> Dataset:
    """Load an evaluation data set, detecting its format from ``path``.

    A directory is read as BEIR (``split`` picks ``qrels/<split>.tsv``); ``.jsonl`` as
    QA JSONL; ``.json`` as SQuAD; ``.csv`` as CSV. Anything else raises
    :class:`DatasetFormatError` naming the path and the formats expected.
    """
    p = Path(path)
    if not p.exists():
        raise _err(
            str(p),
            f"no such file or directory; expected {FORMATS_EXPECTED}",
            f"không tìm thấy tệp hoặc thư mục; cần {_FORMATS_VI}",
        )
    if p.is_dir():
        return load_beir(p, split=split)
    suffix = p.suffix.lower()
    if suffix == ".jsonl":
        return load_qa_jsonl(p)
    if suffix == ".json":
        return load_squad(p)
    if suffix == ".csv":
        return load_csv(p)
    raise _err(
        str(p),
        f"unrecognised data set format {suffix or '(no extension)'!r}; expected {FORMATS_EXPECTED}",
        f"không nhận ra định dạng tập dữ liệu; cần {_FORMATS_VI}",
    )
