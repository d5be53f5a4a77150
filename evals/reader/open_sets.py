"""The open-licence reader training collections (SQuAD-v2 JSON in ``../shared/benchmarks``).

Only these may train weights that ship (their licences allow it; see
``../shared/benchmarks/README.md``): machine-translated SQuAD 2.0 with its adversarial
unanswerable questions, XQuAD in Vietnamese plus its English questions paired with the
Vietnamese paragraphs (cross-lingual reading), and Nanibot's native Vietnamese Wikipedia
questions. Each question keeps the id of its paragraph (``group``), so that a validation
split never shares a paragraph with training (XQuAD's English and Vietnamese questions on
one paragraph fall on the same side).
"""

from __future__ import annotations

import json
from pathlib import Path

from index.errors import HoidapError

OPEN_COLLECTIONS: dict[str, tuple[str, ...]] = {
    "squad2_vi": ("squad2_vi_mt.json",),
    "xquad": ("xquad_vi.json", "xquad_en.json"),
    "nanibot": ("nanibot_wiki_train.json", "nanibot_wiki_test.json"),
}
# Domains of text: SQuAD 2.0 and XQuAD translate the same Wikipedia paragraphs and questions
# (one collection in two translations), so a word both use is not thereby shared by two domains.
OPEN_DOMAINS: dict[str, tuple[str, ...]] = {
    "wikipedia-translated": ("squad2_vi", "xquad"),
    "wikipedia-native": ("nanibot",),
}
# The Vietnamese file whose answers and paragraphs an English question file is paired with.
_PAIRED_WITH = {"xquad_en.json": "xquad_vi.json"}


def _load(path: Path) -> dict:
    if not path.is_file():
        raise HoidapError(
            f"Training collection {path} is missing; pass --data with the folder holding "
            f"the open-licence SQuAD-v2 files (../shared/benchmarks in this project).",
            f"Không tìm thấy tệp dữ liệu huấn luyện {path}; hãy chỉ thư mục bằng --data.",
            code="training_data_missing",
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HoidapError(
            f"Training collection {path} is not SQuAD-v2 JSON ({exc}); replace the file.",
            f"Tệp dữ liệu huấn luyện {path} không phải JSON SQuAD-v2; hãy thay tệp.",
            code="training_data_invalid",
        ) from exc


def _vietnamese_by_id(data: dict) -> dict[str, tuple[str, str, str]]:
    """Question id -> (paragraph key, Vietnamese context, first Vietnamese answer)."""
    out = {}
    for a, article in enumerate(data["data"]):
        for p, para in enumerate(article["paragraphs"]):
            for qa in para["qas"]:
                answers = qa.get("answers") or [{"text": ""}]
                out[qa["id"]] = (f"{a}:{p}", para["context"], answers[0]["text"])
    return out


def read_open_collection(root: Path, name: str, row_type) -> list:
    """Rows (``row_type``: ``data.Row``) of one open collection; unanswerable questions
    come with an empty answer and ``impossible=True``."""
    rows = []
    for file in OPEN_COLLECTIONS[name]:
        data = _load(root / file)
        paired = _PAIRED_WITH.get(file)
        vi = _vietnamese_by_id(_load(root / paired)) if paired else None
        for a, article in enumerate(data["data"]):
            for p, para in enumerate(article["paragraphs"]):
                for qa in para["qas"]:
                    row = _row(qa, f"{a}:{p}", para["context"], vi, row_type)
                    if row is not None:
                        rows.append(row)
    return rows


def _row(qa: dict, group: str, context: str, vi: dict | None, row_type):
    question = (qa.get("question") or "").strip()
    if vi is not None:  # an English question read against the Vietnamese paragraph
        if qa["id"] not in vi:
            return None
        group, context, answer = vi[qa["id"]]
    else:
        answers = qa.get("answers") or []
        answer = answers[0]["text"].strip() if answers else ""
    context = context.replace("\r", "")
    impossible = bool(qa.get("is_impossible")) or not answer
    if not question or (not impossible and answer not in context):
        return None
    return row_type(question, answer, context, not impossible, impossible, group)
