"""Summary requests («Tóm tắt bài viết về Nam Định»): the lead and key sentences of the
article meant, each cited; a refusal when no article is about the topic."""

from __future__ import annotations

import pytest

from assistant.answering.assistant import ASK_TOPIC
from assistant.answering.summary import TOPIC_COVERAGE, choose_article, summarize, summary_request
from index.normalize import fold
from index.types import Chunk, ScoredChunk


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("Tóm tắt bài viết về Nam Định", "Nam Định"),
        ("tom tat bai viet ve nam dinh", "nam dinh"),
        ("Hãy tóm tắt nội dung bài báo về Đề án 06.", "Đề án 06"),
        ("Tóm lược tin về chuyển đổi số ở Tuyên Quang", "chuyển đổi số ở Tuyên Quang"),
        ("Nêu ý chính của bài viết về Đề án 06", "Đề án 06"),
        ("Bài viết về Nam Định nói gì?", "Nam Định"),
        ("Summarize the article about Nam Dinh", "Nam Dinh"),
        ("Tóm tắt bài này", ""),
        ("Tóm tắt", ""),
    ],
)
def test_summary_requests_name_their_topic_as_typed(question: str, topic: str) -> None:
    request = summary_request(question)
    assert request is not None and request.topic == topic


@pytest.mark.parametrize(
    "question",
    [
        "Thủ tướng giao Bộ Tài chính nhiệm vụ gì?",
        "Nam Định ban hành kế hoạch số mấy về CĐS?",
        "Đề án 06 là gì?",
        "Bài toán chuyển đổi số của tỉnh gặp khó khăn gì?",
    ],
)
def test_other_questions_are_not_summary_requests(question: str) -> None:
    assert summary_request(question) is None


def _chunk(position: int, text: str, source: str = "a.txt", title: str = "Tin A") -> Chunk:
    return Chunk(f"{source}-{position}", source, title, "2023-05-08", None, text, position, "h")


ARTICLE = [
    _chunk(
        0,
        "Kỳ I: Dấu ấn của người đứng đầu trong công cuộc đổi mới\n"
        "Tỉnh Hà Nam đã ban hành kế hoạch chuyển đổi số đến năm 2025 với nhiều mục tiêu cụ thể. "
        "Kế hoạch chuyển đổi số của tỉnh tập trung vào chính quyền số, kinh tế số và xã hội số.",
    ),
    _chunk(
        1,
        "Kế hoạch chuyển đổi số của tỉnh tập trung vào chính quyền số, kinh tế số và xã hội số rõ. "
        "Thời tiết hôm đó có mưa nhỏ, nhiều người mang theo áo mưa khi đến hội trường lớn. "
        "Huyện Kim Bảng là nơi đầu tiên triển khai dịch vụ công trực tuyến toàn trình cho người dân.",
    ),
]


def _idf(term: str) -> float:
    return 1.0


def test_the_summary_is_the_lead_and_central_sentences_in_article_order() -> None:
    picked = summarize(ARTICLE, _idf, sentences=3)
    sentences = [ev.sentence for ev in picked]
    assert sentences[0].startswith("Tỉnh Hà Nam đã ban hành")  # the lead, not the heading
    assert not any(s.startswith("Kỳ I") for s in sentences)
    # The near-repeat in the second passage is left out; order follows the article.
    assert sum(s.startswith("Kế hoạch chuyển đổi số của tỉnh") for s in sentences) == 1
    positions = [(ev.passage.chunk.position, ev.position) for ev in picked]
    assert positions == sorted(positions) and len(picked) == 3
    for ev in picked:
        assert ev.sentence in ev.passage.chunk.text


def test_a_topic_named_in_the_question_pulls_its_sentence_in() -> None:
    plain = [ev.sentence for ev in summarize(ARTICLE, _idf, sentences=2)]
    focused = [ev.sentence for ev in summarize(ARTICLE, _idf, topic="Kim Bảng", sentences=2)]
    assert not any("Kim Bảng" in s for s in plain)
    assert any("Kim Bảng" in s for s in focused)


def test_the_article_holding_the_topic_is_chosen_over_a_better_ranked_one() -> None:
    other = [_chunk(0, "Một bài khác về chuyển đổi số ở Bắc Ninh.", "b.txt", "Tin B")]
    articles = {"a.txt": ARTICLE, "b.txt": other}
    retrieved = [ScoredChunk(other[0], 0.9), ScoredChunk(ARTICLE[1], 0.5)]
    chunks, coverage = choose_article("Kim Bảng", retrieved, articles.__getitem__, _idf)
    assert chunks == ARTICLE and coverage == 1.0
    # "Bắc Ninh" shares a syllable with "Quảng Ninh", not the name.
    chunks, coverage = choose_article("Quảng Ninh", retrieved, articles.__getitem__, _idf)
    assert coverage < TOPIC_COVERAGE


@pytest.mark.slow
@pytest.mark.parametrize(
    "question", ["Tóm tắt bài viết về Nam Định", "tom tat bai viet ve nam dinh"]
)
def test_a_summary_cites_each_sentence_from_the_article_meant(seed_assistant, question) -> None:
    answer = seed_assistant.ask(question)
    assert not answer.refused and len(answer.citations) >= 2
    sources = {c.source for c in answer.citations}
    assert len(sources) == 1
    article = seed_assistant.retriever.article_text(sources.pop())
    assert "Nam Định" in article
    body = answer.answer
    for c in answer.citations:
        assert f"[{c.n}]" in body and c.quote in c.text
    # Every sentence is the article's own, and the summary stays short.
    for sentence in body.split("]")[:-1]:
        text = sentence.rsplit("[", 1)[0].strip()
        assert text in article, text
    assert len(body.split()) <= 160
    assert "nam dinh" in fold(body)


@pytest.mark.slow
def test_a_summary_of_a_topic_no_article_covers_is_refused(seed_assistant) -> None:
    assert seed_assistant.ask("Tóm tắt bài viết về giá vàng SJC").refused
    answer = seed_assistant.ask("Tóm tắt")
    assert answer.refused and answer.answer == ASK_TOPIC and not answer.citations
