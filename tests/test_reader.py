"""The learned reader: toy training end to end, ONNX parity with torch, offline loading."""

from __future__ import annotations

import csv
import json
import socket
from pathlib import Path

import numpy as np
import pytest

from assistant.answering.reader.answerability import FEATURES, AnswerabilityModel, features, fit
from assistant.answering.reader.inputs import (
    encode_pair,
    sentence_pool,
    sentence_spans,
    window_ranges,
)
from assistant.answering.reader.runtime import (
    NO_BOUNDARY,
    Reader,
    ReaderUnavailable,
    boundary_spans,
    default_model_dir,
)
from index.e5_tokenizer import E5Tokenizer
from index.e5_weights import E5Weights

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tokenizer() -> E5Tokenizer:
    return E5Tokenizer(E5Weights())


def test_sentence_spans_follow_lines_and_sentences():
    text = "Tiêu đề\nCâu một. Câu hai dài hơn!\nDòng ba"
    spans = sentence_spans(text, start=8)
    assert [text[s:e] for s, e in spans] == ["Câu một.", "Câu hai dài hơn!", "Dòng ba"]


def test_encode_pair_maps_tokens_to_sentences(tokenizer):
    pair = encode_pair(tokenizer, "Ai ký?", "Bài A", "Câu đầu tiên. Thủ tướng đã ký quyết định.")
    assert pair.text.startswith("Bài A\n")
    assert len(pair.sentences) == 2
    marked = {int(s) for s in pair.sentence_of if s >= 0}
    assert marked == {0, 1}
    # Question and title tokens belong to no sentence.
    assert pair.sentence_of[0] == -1 and pair.sentence_of[1] == -1
    for t, s in enumerate(pair.sentence_of):
        if s >= 0:
            a, b = pair.offsets[t]
            lo, hi = pair.sentences[s]
            assert lo <= (a + b - 1) // 2 < hi


def test_encode_pair_truncates_to_max_length(tokenizer):
    long = " ".join([f"Câu số {i} nói về chuyển đổi số." for i in range(200)])
    pair = encode_pair(tokenizer, "Câu hỏi?", "", long, max_length=64)
    assert len(pair.ids) == 64
    assert pair.ids[-1] == tokenizer.eos


def test_window_ranges_cover_every_sentence_once_within_the_limit():
    spans = [(0, 100), (101, 300), (301, 700), (701, 1500), (1501, 1600)]
    windows = window_ranges(spans, limit=520)
    assert windows == [(0, 2), (2, 3), (3, 4), (4, 5)]
    covered = [i for lo, hi in windows for i in range(lo, hi)]
    assert covered == list(range(len(spans)))


@pytest.mark.slow
def test_a_long_passage_is_read_whole_in_windows():
    """No sentence of a passage longer than one pair allows is left unread (the reader
    reads it as several windows, as it was trained), and indices are the passage's own."""
    reader = Reader(default_model_dir())
    sentences = [
        f"Điều {i}: người lao động được nghỉ {i} ngày mỗi năm theo quy định." for i in range(40)
    ]
    passage = " ".join(sentences)
    reading = reader.read("Người lao động được nghỉ mấy ngày?", [("Bộ luật Lao động", passage)])
    assert [s.sentence for s in reading.sentences] == list(range(40))
    assert [s.text for s in reading.sentences] == sentences
    assert reading.passage(0).endswith(sentences[-1])
    assert sentences[39] in reading.window(reading.sentences[-1])


def test_sentence_pool_averages_its_tokens():
    pool = sentence_pool(np.array([-1, 0, 0, 1, -1]), 2, 6)
    np.testing.assert_allclose(pool[0], [0, 0.5, 0.5, 0, 0, 0])
    np.testing.assert_allclose(pool[1], [0, 0, 0, 1, 0, 0])


def test_answerability_features_and_fit():
    f = features(
        "Bộ Y tế chủ trì việc gì?",
        2.0,
        0.5,
        1.0,
        "Bộ Y tế chủ trì hồ sơ.",
        "Bộ Y tế chủ trì hồ sơ.",
    )
    assert set(f) == set(FEATURES)
    assert f["window_coverage"] == 1.0 and f["missing_rare"] == 0.0 and f["margin"] == 1.5
    swapped = features(
        "Bộ Công an chủ trì việc gì?", 2.0, 0.5, 1.0, "Bộ Y tế chủ trì.", "Bộ Y tế chủ trì."
    )
    assert swapped["missing_rare"] == 1.0 and swapped["passage_coverage"] < 1.0
    rng = np.random.default_rng(0)
    rows, labels = [], []
    for _ in range(200):
        y = int(rng.random() < 0.5)
        row = {k: float(rng.normal()) for k in FEATURES}
        row["best_logit"] += 2.0 * y
        rows.append(row)
        labels.append(y)
    model = fit(rows, labels)
    assert model.weights[FEATURES.index("best_logit")] > 0.5
    again = AnswerabilityModel.from_json(json.loads(json.dumps(model.to_json())))
    assert again.probability(rows[0]) == pytest.approx(model.probability(rows[0]))


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ReaderUnavailable, match="make train-reader"):
        Reader(tmp_path).score("Câu hỏi?", [("", "Một câu.")])


def _graph_probabilities(reader: Reader, ref: dict) -> np.ndarray:
    """Sentence probabilities of a reference pair by the exported graph (all sentences)."""
    pairs = reader.encode(ref["question"], [("", ref["passage"])])
    tokens, _ = reader.run(pairs)
    pool = sentence_pool(pairs[0].sentence_of, len(pairs[0].sentences), tokens.shape[1])
    return 1.0 / (1.0 + np.exp(-(pool @ tokens[0, :, 0])))


def _graph_boundaries(reader: Reader, ref: dict) -> list[float]:
    """The start/end heads' margins over "no answer", per sentence, by the exported graph."""
    pairs = reader.encode(ref["question"], [("", ref["passage"])])
    tokens, _ = reader.run(pairs)
    bounds = boundary_spans(pairs[0], tokens[0])
    return [bounds[i][0] for i in sorted(bounds)]


def _no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.slow
def test_shipped_reader_loads_offline_and_matches_its_torch_reference(monkeypatch):
    """The graph in the package reproduces the torch model's probabilities (≤ 0.01)."""
    _no_network(monkeypatch)
    reader = Reader(default_model_dir())
    card = json.loads((default_model_dir() / "reader.json").read_text())
    assert 0.0 < reader.threshold < 1.0 and reader.llm_floor <= reader.threshold
    assert reader.answerability is not None
    assert card["reference"], "the model card must carry torch reference scores"
    for ref in card["reference"]:
        np.testing.assert_allclose(
            _graph_probabilities(reader, ref), ref["probabilities"], atol=0.01
        )
        if "boundaries" in ref:
            np.testing.assert_allclose(_graph_boundaries(reader, ref), ref["boundaries"], atol=0.01)
    if not card.get("boundaries"):  # untrained start/end heads are not read at all
        ref = card["reference"][0]
        scores = reader.score(ref["question"], [("", ref["passage"])])
        assert scores and all(s.boundary == NO_BOUNDARY for s in scores)


@pytest.mark.slow
def test_shipped_reader_size_and_no_embedding_copy():
    files = list(default_model_dir().glob("*.onnx"))
    assert [f.name for f in files] == ["reader.onnx"]
    assert files[0].stat().st_size <= 30 * 1024 * 1024


def _toy_squad(rows: list[dict], english: bool = False) -> dict:
    """SQuAD-v2 JSON of ``rows``: every third question unanswerable (SQuAD 2.0's kind),
    or with ``english`` the same ids asked in English (XQuAD's paired file)."""
    paragraphs = []
    for i, r in enumerate(rows):
        impossible = not english and i % 3 == 2
        qa = {"id": f"q{i}", "question": r["question"], "is_impossible": impossible}
        if english:
            qa["question"] = f"What is {r['answer'].split()[0]}?"
        qa["answers"] = (
            []
            if impossible
            else [{"text": r["answer"], "answer_start": r["context"].find(r["answer"])}]
        )
        paragraphs.append({"context": r["context"], "qas": [qa]})
    return {"version": "v2.0", "data": [{"title": "toy", "paragraphs": paragraphs}]}


def _write_open_sets(folder: Path, rows: list[dict]) -> None:
    from evals.reader.open_sets import OPEN_COLLECTIONS

    for files in OPEN_COLLECTIONS.values():
        for file in files:
            data = _toy_squad(rows, english=file.endswith("_en.json"))
            (folder / file).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _toy_benchmarks(folder: Path) -> Path:
    """Tiny collections in the benchmark CSV layouts and the open sets' SQuAD-v2 layout,
    from the seed articles."""
    folder.mkdir()
    text = (ROOT / "seeds").glob("*.txt")
    paragraphs = []
    for path in sorted(text):
        paragraphs += [p for p in path.read_text(encoding="utf-8").split("\n") if len(p) > 200]
    rows = []
    for p in paragraphs[:12]:
        words = p.split()
        answer = " ".join(words[5:9])
        rows.append({"context": p, "question": " ".join(words[:5]) + " là gì?", "answer": answer})
    for name, header in (
        ("vimedaqa_v2.csv", ["idx", "question", "answer", "context"]),
        ("alqac.csv", ["context", "question", "answer"]),
        (
            "virhe4qa_v2.csv",
            [
                "split",
                "index",
                "context",
                "question",
                "extractive answer",
                "abstractive answer",
                "label",
            ],
        ),
    ):
        with (folder / name).open("w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=header)
            w.writeheader()
            for i, r in enumerate(rows):
                row = {"idx": i, "index": i, "split": "train", "label": 0, **r}
                row["extractive answer"] = row["abstractive answer"] = r["answer"]
                w.writerow({k: row[k] for k in header})
    _write_open_sets(folder, rows)
    return folder


@pytest.mark.slow
def test_toy_training_end_to_end(tmp_path, monkeypatch):
    """Train a 1-layer reader on toy data, export it, and read with the exported graph."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from evals.reader.train import main

    data = _toy_benchmarks(tmp_path / "bench")
    out = tmp_path / "reader"
    main(
        [
            "--data",
            str(data),
            "--out",
            str(out),
            "--layers",
            "1",
            "--max-examples",
            "24",
            "--batch",
            "8",
            "--threads",
            "1",
            "--listwise",
            "1.0",
            "--synthetic",
            "50",
            "--boundaries",
            "1.0",
        ]
    )
    card = json.loads((out / "reader.json").read_text())
    assert card["train_collections"] == ["squad2_vi", "xquad", "nanibot"]  # open licences only
    assert not (out / "checkpoint.pt").exists()  # a finished run leaves no checkpoint
    assert card["listwise"] == 1.0 and card["synthetic"] == 50 and card["boundaries"] == 1.0
    assert card["layers"] == 1 and card["examples"] > 0 and card["steps"] >= 1
    assert 0.0 <= card["threshold"] <= 1.0 and card["llm_floor"] <= card["threshold"]
    assert (out / "reader.onnx").is_file()
    _no_network(monkeypatch)
    reader = Reader(out)
    scores = reader.score(
        "Câu hỏi?", [("Tiêu đề", "Câu thứ nhất đủ dài. Câu thứ hai cũng đủ dài.")]
    )
    assert [s.sentence for s in scores] == [0, 1]
    assert all(0.0 < s.probability < 1.0 for s in scores)
    for s in scores:  # the start/end heads propose a span inside each sentence
        assert s.boundary > -50.0 and 0 <= s.boundary_span[0] < s.boundary_span[1] <= len(s.text)
    # The exported graph reproduces the torch probabilities and margins stored in the card.
    for ref in card["reference"]:
        np.testing.assert_allclose(
            _graph_probabilities(reader, ref), ref["probabilities"], atol=0.01
        )
        np.testing.assert_allclose(_graph_boundaries(reader, ref), ref["boundaries"], atol=0.01)


def test_open_sets_keep_unanswerable_and_english_questions_with_their_paragraph(tmp_path):
    from evals.reader.data import build_examples, read_collection

    data = _toy_benchmarks(tmp_path / "bench")
    squad = read_collection(data, "squad2_vi")
    assert sum(r.impossible for r in squad) == 4 and all(
        r.answer for r in squad if not r.impossible
    )
    xquad = read_collection(data, "xquad")
    english = [r for r in xquad if r.question.startswith("What is")]
    assert len(english) == 12  # paired with the Vietnamese paragraph and answer of its id
    by_group = {r.group: r for r in xquad if not r.question.startswith("What is")}
    assert all(r.context == by_group[r.group].context and r.answer in r.context for r in english)
    examples = build_examples(squad, "squad2_vi", seed=0)
    adversarial = [e for e in examples if e.meta.get("adversarial")]
    assert len(adversarial) == 4
    assert all(e.kind == "question_negative" and not any(e.labels) for e in adversarial)
    # Real unanswerable questions replace the programmatic swaps in that collection.
    assert not any("swap" in e.meta for e in examples)


@pytest.mark.slow
def test_an_interrupted_training_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    """Stopped right after its first checkpoint and run again, training ends where an
    uninterrupted run of the same recipe ends."""
    pytest.importorskip("torch")
    import torch

    from evals.reader.train import Checkpoint, main

    data = _toy_benchmarks(tmp_path / "bench")
    args = ["--data", str(data), "--layers", "1", "--batch", "4", "--threads", "1"]
    args += ["--checkpoint-every", "3", "--train", "squad2_vi", "nanibot"]
    main([*args, "--out", str(tmp_path / "whole")])
    whole = json.loads((tmp_path / "whole" / "reader.json").read_text())

    original = Checkpoint.save

    def save_then_stop(self, *state):
        original(self, *state)
        raise KeyboardInterrupt

    monkeypatch.setattr(Checkpoint, "save", save_then_stop)
    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        main([*args, "--out", str(out)])
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == 3
    monkeypatch.setattr(Checkpoint, "save", original)
    main([*args, "--out", str(out)])
    resumed = json.loads((out / "reader.json").read_text())
    assert resumed["steps"] == whole["steps"] > 3 and not (out / "checkpoint.pt").exists()
    assert resumed["final_loss"] == pytest.approx(whole["final_loss"], abs=1e-4)
    for a, b in zip(resumed["reference"], whole["reference"], strict=True):
        np.testing.assert_allclose(a["probabilities"], b["probabilities"], atol=1e-5)


def test_missing_training_collection_is_a_clear_error(tmp_path):
    from evals.reader.data import read_collection
    from index.errors import HoidapError

    with pytest.raises(HoidapError, match="--data"):
        read_collection(tmp_path, "alqac")


def test_listwise_loss_rewards_ranking_the_answer_first_in_its_window():
    """The in-window ranking term is the cross-entropy of the gold sentence under a softmax
    over the window's sentences; windows without an answer add nothing to it."""
    torch = pytest.importorskip("torch")
    from evals.reader.train import losses

    def net_with(sentence_logits):
        tokens = torch.tensor([[[x, 0.0] for x in sentence_logits]])

        def net(embeds, mask):
            return tokens, torch.zeros(1)

        return net

    pool = [torch.eye(2)]
    batch = (None, None, pool, [torch.tensor([1.0, 0.0])], torch.zeros(1, 2), torch.zeros(1, 2))
    batch = (*batch, torch.tensor([1.0]), torch.ones(1, 2), torch.tensor([-1]), torch.tensor([-1]))
    right, wrong = net_with([2.0, -2.0]), net_with([-2.0, 2.0])
    extra_right = losses(right, batch, 1.0) - losses(right, batch, 0.0)
    extra_wrong = losses(wrong, batch, 1.0) - losses(wrong, batch, 0.0)
    expected = -torch.log_softmax(torch.tensor([-2.0, 2.0]), dim=0)[0]
    assert float(extra_wrong) == pytest.approx(float(expected), rel=1e-5)
    assert float(extra_right) < 0.05 < float(extra_wrong)
    unanswerable = (*batch[:3], [torch.tensor([0.0, 0.0])], *batch[4:])
    assert float(losses(wrong, unanswerable, 1.0)) == pytest.approx(
        float(losses(wrong, unanswerable, 0.0))
    )


def _reading_of(lines: list[str]):
    from assistant.answering.reader.runtime import Reading, SentenceScore

    text = "\n".join(lines)
    spans = sentence_spans(text)
    scores = [SentenceScore(0, i, text[a:b], 0.5, 0.0, None) for i, (a, b) in enumerate(spans)]
    return Reading("?", scores, [0.0], [text], [spans]), scores


def test_a_list_item_is_cited_with_the_sentence_that_opens_its_list():
    from assistant.answering.reader.answerer import list_partner

    reading, s = _reading_of(
        [
            "Tội trốn tránh nghĩa vụ quân sự",
            "2. Phạm tội thuộc một trong các trường hợp sau đây, thì bị phạt tù từ 01 năm đến 05 năm:",
            "a) Tự gây thương tích;",
            "b) Phạm tội trong thời chiến;",
            "Câu kết thúc không thuộc danh sách.",
        ]
    )
    assert list_partner(reading, s[3]) is s[1]  # across the item before it
    assert list_partner(reading, s[1]) is s[2]  # a lead-in brings its first item
    assert list_partner(reading, s[4]) is None
    assert list_partner(reading, s[0]) is None


def test_a_sentence_opening_with_a_back_reference_is_cited_with_the_one_before():
    from assistant.answering.reader.answerer import back_reference_partner

    reading, s = _reading_of(
        [
            "Quảng Ninh là địa phương dẫn đầu chỉ số chuyển đổi số cấp tỉnh năm 2022.",
            "Tỉnh sẽ hoàn thành xây dựng chính quyền số vào năm 2025.",
            "Tỉnh Nam Định ban hành kế hoạch số 122 về chuyển đổi số.",
            "Ông cho biết dữ liệu là tài nguyên mới.",
        ]
    )
    assert back_reference_partner(reading, s[1]) is s[0]
    assert back_reference_partner(reading, s[2]) is None  # a name follows: it names itself
    assert back_reference_partner(reading, s[3]) is s[2]
    assert back_reference_partner(reading, s[0]) is None  # nothing before it


def test_a_back_reference_the_passage_names_needs_no_partner():
    from assistant.answering.reader.answerer import back_reference_partner

    reading, s = _reading_of(
        [
            "UBND tỉnh Quảng Ninh ban hành kế hoạch chuyển đổi số.",
            "Quảng Ninh dẫn đầu chỉ số chuyển đổi số cấp tỉnh.",
            "Tỉnh sẽ hoàn thành xây dựng chính quyền số vào năm 2025.",
        ]
    )
    assert back_reference_partner(reading, s[2]) is None  # «Tỉnh Quảng Ninh sẽ …» says it


class _ScriptedReader:
    """A reader whose reading is given: tests how the answerer composes what it cites."""

    def __init__(self, logits: list[list[float]]):
        self.logits = logits
        self.card = {"combiner": {"check_score_weight": 0.0}}
        self.answerability = None

    def read(self, question, passages):
        from assistant.answering.reader.runtime import Reading, SentenceScore

        texts, spans, scores = [], [], []
        for p, ((_, text), logits) in enumerate(zip(passages, self.logits, strict=True)):
            sp = sentence_spans(text)
            texts.append(text)
            spans.append(sp)
            for i, ((a, b), logit) in enumerate(zip(sp, logits, strict=True)):
                scores.append(SentenceScore(p, i, text[a:b], 1 / (1 + np.exp(-logit)), logit, None))
        return Reading(question, scores, [0.0] * len(passages), texts, spans)


def _retrieved(*texts: str):
    from index.types import Chunk, ScoredChunk

    return [
        ScoredChunk(Chunk(f"c{i}", f"s{i}.txt", "", None, None, t, 0, "h"), 1.0 - i / 10)
        for i, t in enumerate(texts)
    ]


@pytest.mark.parametrize(
    "logits, cited",
    [
        ([[0.0, 3.0, 2.0, -1.0], [-2.0]], [(0, 1), (0, 2)]),  # neighbour is runner-up: both
        ([[0.0, 3.0, -1.0, 2.5], [-2.0]], [(0, 1)]),  # runner-up not adjacent: the best only
        ([[0.0, 3.0, -1.0, -1.0], [2.9]], [(0, 1)]),  # runner-up in another passage
    ],
)
def test_the_answer_cites_the_best_sentence_and_its_neighbour_when_it_ranks_second(logits, cited):
    from assistant.answering.reader.answerer import ReaderAnswerer

    passage = "Câu thứ nhất khá dài. Câu thứ hai trả lời. Câu thứ ba bổ sung. Câu thứ tư khác."
    retrieved = _retrieved(passage, "Một đoạn khác hẳn.")
    result = ReaderAnswerer(_ScriptedReader(logits), passages=2).analyse("Hỏi gì?", retrieved)
    assert [(retrieved.index(e.passage), e.position) for e in result.evidence] == cited


@pytest.mark.parametrize(
    "margin, logits, cited",
    [
        (1.0, [[0.0, 3.0, -1.0, -1.0], [2.5]], [(0, 1), (1, 0)]),  # close, other passage: both
        (1.0, [[0.0, 3.0, -1.0, 2.5], [-2.0]], [(0, 1), (0, 3)]),  # close, same passage: in order
        (1.0, [[0.0, 3.0, -1.0, -1.0], [1.5]], [(0, 1)]),  # runner-up further than the margin
        (1.0, [[0.0, 2.0, -1.0, -1.0], [3.0]], [(1, 0), (0, 1)]),  # the best one's passage first
    ],
)
def test_a_runner_up_within_the_fitted_margin_is_cited_too(margin, logits, cited):
    from assistant.answering.reader.answerer import ReaderAnswerer

    passage = "Câu thứ nhất khá dài. Câu thứ hai trả lời. Câu thứ ba bổ sung. Câu thứ tư khác."
    reader = _ScriptedReader(logits)
    reader.card["combiner"]["second_sentence_margin"] = margin
    retrieved = _retrieved(passage, "Một đoạn khác hẳn.")
    result = ReaderAnswerer(reader, passages=2).analyse("Hỏi gì?", retrieved)
    assert [(retrieved.index(e.passage), e.position) for e in result.evidence] == cited


def test_the_runner_up_margin_buys_a_second_sentence_only_when_it_brings_answers():
    from evals.reader.combine import choose_margin

    def table(gains):  # margin -> (contains, sentences)
        return {str(m): {"contains": c, "sentences": n} for m, (c, n) in gains.items()}

    # +5 points for 0.3 more sentences: a second sentence holds the answer 1 time in 6.
    assert choose_margin(table({None: (0.60, 1.2), 1.0: (0.65, 1.5), 1e9: (0.66, 2.0)})) == 1.0
    # +2 points for 0.4 more sentences (1 in 20): not worth it.
    assert choose_margin(table({None: (0.60, 1.2), 1.0: (0.62, 1.6), 1e9: (0.63, 2.0)})) is None


def test_boundary_loss_trains_no_answer_at_the_first_token():
    """The start/end heads: <s> (position 0) is the target of a window that cannot
    answer, the marked span's first and last tokens otherwise; positions outside the
    passage never take probability, and windows without a target add nothing."""
    torch = pytest.importorskip("torch")
    from evals.reader.train import boundary_loss

    def logits(start, end):
        out = torch.zeros(1, 4, 4)
        out[0, :, 2], out[0, :, 3] = torch.tensor(start), torch.tensor(end)
        return out

    mask = torch.tensor([[1.0, 0.0, 1.0, 1.0]])  # token 1 is a question token
    says_none = logits([5.0, 9.0, 0.0, 0.0], [5.0, 9.0, 0.0, 0.0])
    says_span = logits([0.0, 9.0, 5.0, 0.0], [0.0, 9.0, 0.0, 5.0])

    unanswerable = (torch.tensor([0]), torch.tensor([0]))
    answer = (torch.tensor([2]), torch.tensor([3]))
    assert float(boundary_loss(says_none, mask, *unanswerable)) < 0.05
    assert float(boundary_loss(says_span, mask, *unanswerable)) > 4.0
    assert float(boundary_loss(says_span, mask, *answer)) < 0.05
    assert float(boundary_loss(says_none, mask, *answer)) > 4.0
    assert float(boundary_loss(says_none, mask, torch.tensor([-1]), torch.tensor([-1]))) == 0.0


def test_boundary_spans_weigh_the_best_span_of_each_sentence_against_no_answer(tokenizer):
    """Per sentence, the best start/end pair (start before end, inside the sentence) minus
    the <s> score; its characters lie inside that sentence."""
    pair = encode_pair(tokenizer, "Ai?", "", "Ông An đến. Bà Bình về nhà.")
    n = len(pair.ids)
    tokens = np.zeros((n, 4), dtype=np.float32)
    tokens[0, 2:] = 1.0  # "no answer": 2.0
    second = [t for t, s in enumerate(pair.sentence_of) if s == 1]
    tokens[second[0], 2], tokens[second[1], 3] = 4.0, 3.0  # "Bà Bình" (or its first pieces)
    tokens[second[1], 2] = 9.0  # a start after the best end must not pair with it
    bounds = boundary_spans(pair, tokens)
    assert sorted(bounds) == [0, 1]
    margin, (a, b) = bounds[1]
    assert margin == pytest.approx(9.0 + 3.0 - 2.0)  # start and end on one token
    s, e = pair.sentences[1]
    assert s <= a < b <= e and pair.text[a:b].strip()
    assert bounds[0][0] == pytest.approx(-2.0)


def test_macro_threshold_counts_each_validation_collection_once():
    """The false-refusal target holds for the collections' average: a collection that
    refuses none at a threshold leaves the other room, as a per-collection rule would not."""
    from evals.reader.validate import macro_threshold_at, threshold_at

    low = list(np.linspace(0.0, 1.0, 101))
    high = list(np.linspace(0.2, 1.0, 20))

    def refused(t: float, strict: bool = True) -> float:
        rates = [np.mean(np.array(g) < t if strict else np.array(g) <= t) for g in (low, high)]
        return float(np.mean(rates))

    t = macro_threshold_at([low, high], 0.05)
    assert t > min(threshold_at(g, 0.05) for g in (low, high))
    assert refused(t) <= 0.05 < refused(t, strict=False)
    assert macro_threshold_at([low], 0.05) == threshold_at(low, 0.05)


def test_answer_boundaries_are_sentence_tokens_or_untrained(tokenizer):
    """A start/end target is a token the heads may choose (a sentence token); a marked
    answer outside every read sentence is not trained rather than trained on a masked
    position (which once gave loss spikes of 1e4)."""
    from evals.reader.data import Example
    from evals.reader.train import _encode

    passage = "Ab\nÔng An đến Hà Nội."  # "Ab" is too short to be a sentence
    inside = Example("Ai đến Hà Nội?", passage, [1], span=(3, 9))
    outside = Example("Ai?", passage, [1], span=(0, 2))
    unanswerable = Example("Ai đến Huế?", passage, [0])
    enc = _encode(tokenizer, inside, 64)
    assert enc["start"] > 0 and enc["sentence_of"][enc["start"]] >= 0
    assert enc["sentence_of"][enc["end"]] >= 0 and enc["end"] >= enc["start"]
    assert (
        _encode(tokenizer, outside, 64)["start"],
        _encode(tokenizer, unanswerable, 64)["end"],
    ) == (-1, 0)


def test_an_answer_leads_with_the_best_sentence_and_its_excerpt():
    from assistant.answering.reader.answerer import compose

    reading, s = _reading_of(
        [
            "Năm 2021, tỉnh ban hành kế hoạch chuyển đổi số.",
            "Kế hoạch có 12 nhiệm vụ trọng tâm.",
            "Đến năm 2025, tỉnh hoàn thành cơ sở dữ liệu đất đai.",
            "Dữ liệu được chia sẻ cho các sở, ngành.",
        ]
    )
    # A close runner-up earlier in the passage follows the best sentence.
    assert compose(reading, [s[2], s[0]], [3.0, 2.5], margin=1.0) == [s[2], s[0]]
    # An adjacent runner-up is one excerpt with it, read in the passage's order.
    assert compose(reading, [s[2], s[1]], [3.0, 0.0], margin=None) == [s[1], s[2]]
