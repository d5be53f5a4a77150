"""Sentence-aware chunking within an o200k_base token budget, with overlap."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.chunker import chunk_article, chunk_id, split_sentences
from index.clean import clean_article
from index.tokens import count_tokens
from index.types import Article, Chunk

ROOT = Path(__file__).resolve().parents[1]
SEEDS = sorted((ROOT / "seeds").glob("*.txt"))


def _seed_article(path: Path) -> Article:
    raw = path.read_bytes()
    return clean_article(raw.decode("utf-8"), path.name, raw)[0]


def _article(body: str, **kw) -> Article:
    fields = {"source": "a.txt", "title": "Tiêu đề", "date": "2023-05-09", "author": None}
    fields.update(kw)
    return Article(body=body, content_hash="h", **fields)


def _sentences_of(article: Article) -> list[str]:
    return [s for para in article.body.split("\n") for s in split_sentences(para)]


def test_a_line_break_always_ends_a_sentence() -> None:
    """Headings and list items end without a full stop; they must not fuse with the next line."""
    text = "Tù chung thân\nNgười nào phạm tội thì bị phạt tù.\na) Có tổ chức;\nb) Tái phạm"
    assert split_sentences(text) == [
        "Tù chung thân",
        "Người nào phạm tội thì bị phạt tù.",
        "a) Có tổ chức;",
        "b) Tái phạm",
    ]
    # A clause number stays a piece of its own, as the reader was trained (too short to cite).
    assert split_sentences("2. Phạm tội có tổ chức.") == ["2.", "Phạm tội có tổ chức."]


def test_paragraph_breaks_survive_inside_a_chunk() -> None:
    body = (
        "Tội trốn tránh nghĩa vụ\n1. Người nào trốn tránh thì bị phạt. Câu thứ hai.\na) Có tổ chức;"
    )
    (chunk,) = chunk_article(_article(body), 220, 40)
    assert chunk.text == body  # sentences of one paragraph joined by a space, paragraphs by \n
    assert split_sentences(chunk.text) == [
        "Tội trốn tránh nghĩa vụ",
        "1.",
        "Người nào trốn tránh thì bị phạt.",
        "Câu thứ hai.",
        "a) Có tổ chức;",
    ]


def test_split_sentences_on_terminal_punctuation() -> None:
    text = "Hội nghị bắt đầu lúc 8 giờ. Thủ tướng phát biểu! Ai sẽ làm? “Chúng ta”, ông nói."
    assert split_sentences(text) == [
        "Hội nghị bắt đầu lúc 8 giờ.",
        "Thủ tướng phát biểu!",
        "Ai sẽ làm?",
        "“Chúng ta”, ông nói.",
    ]


def test_split_sentences_keeps_abbreviations_and_numbers_together() -> None:
    text = "Theo TS. Nguyễn Tuấn Hoa, TP. Hồ Chí Minh tăng 3,5 lần. Năm 2023 đạt 19%."
    assert split_sentences(text) == [
        "Theo TS. Nguyễn Tuấn Hoa, TP. Hồ Chí Minh tăng 3,5 lần.",
        "Năm 2023 đạt 19%.",
    ]


def test_split_sentences_of_a_line_without_punctuation() -> None:
    assert split_sentences("Kỳ I: Dấu ấn phát huy vai trò của người đứng đầu") == [
        "Kỳ I: Dấu ấn phát huy vai trò của người đứng đầu"
    ]
    assert split_sentences("   ") == []


@pytest.mark.parametrize("budget", [40, 100, 220])
def test_seed_chunks_respect_the_exact_token_budget(budget: int) -> None:
    for path in SEEDS:
        chunks = chunk_article(_seed_article(path), budget, budget // 5)
        assert chunks, path.name
        for c in chunks:
            assert c.n_tokens == count_tokens(c.text)
            assert c.n_tokens <= budget, (path.name, c.n_tokens)


def test_every_sentence_lands_whole_in_some_chunk() -> None:
    for path in SEEDS:
        article = _seed_article(path)
        chunks = chunk_article(article, 120, 30)
        for sentence in _sentences_of(article):
            if count_tokens(sentence) <= 120:
                assert any(sentence in c.text for c in chunks), (path.name, sentence[:60])


def test_chunks_follow_article_order_without_gaps() -> None:
    article = _seed_article(SEEDS[0])
    chunks = chunk_article(article, 220, 40)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    sentences = _sentences_of(article)
    assert max(count_tokens(s) for s in sentences) <= 220  # no word-split pieces here
    first_sentence_index = [
        next(i for i, s in enumerate(sentences) if c.text.startswith(s)) for c in chunks
    ]
    assert first_sentence_index == sorted(first_sentence_index)
    assert chunks[-1].text.endswith(sentences[-1])


def test_consecutive_chunks_overlap_by_whole_sentences_within_the_overlap_budget() -> None:
    body = " ".join(f"Câu số {i} nói về chuyển đổi số ở tỉnh thứ {i}." for i in range(60))
    chunks = chunk_article(_article(body), 100, 30)
    assert len(chunks) > 3
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        shared = [s for s in split_sentences(nxt.text) if s in split_sentences(prev.text)]
        assert shared, "no overlap between consecutive chunks"
        assert nxt.text.startswith(" ".join(shared))
        assert count_tokens(" ".join(shared)) <= 30


def test_no_overlap_when_overlap_is_zero() -> None:
    body = " ".join(f"Câu số {i} nói về chuyển đổi số." for i in range(60))
    chunks = chunk_article(_article(body), 60, 0)
    texts = [s for c in chunks for s in split_sentences(c.text)]
    assert len(texts) == len(set(texts)) == 60


def test_a_sentence_longer_than_the_budget_is_split_on_words() -> None:
    sentence = " ".join(f"từ{i}" for i in range(400)) + "."
    chunks = chunk_article(_article(sentence), 50, 0)
    assert len(chunks) > 3
    assert all(c.n_tokens <= 50 for c in chunks)
    assert " ".join(c.text for c in chunks) == sentence  # split on spaces, nothing lost


def test_each_chunk_carries_title_date_and_author() -> None:
    article = _seed_article(SEEDS[1])
    for c in chunk_article(article):
        assert (c.title, c.date, c.author, c.source) == (
            article.title,
            "2023-05-09",
            "Chinhphu.vn",
            SEEDS[1].name,
        )
        assert c.article_hash == article.content_hash
        assert c.embedding_text().startswith(f"{article.title} (2023-05-09)\n")


def test_embedding_text_without_a_date() -> None:
    chunk = chunk_article(_article("Một câu.", date=None))[0]
    assert chunk.embedding_text() == "Tiêu đề\nMột câu."


def test_chunk_ids_are_deterministic_unique_and_content_derived() -> None:
    article = _seed_article(SEEDS[0])
    first = chunk_article(article)
    again = chunk_article(_seed_article(SEEDS[0]))
    assert [c.chunk_id for c in first] == [c.chunk_id for c in again]
    assert len({c.chunk_id for c in first}) == len(first)
    base = chunk_id("a.txt", "T", "2023-01-01", "x")
    assert base != chunk_id("b.txt", "T", "2023-01-01", "x")
    assert base != chunk_id("a.txt", "T2", "2023-01-01", "x")
    assert base != chunk_id("a.txt", "T", None, "x")
    assert base != chunk_id("a.txt", "T", "2023-01-01", "y")


def test_repeated_passages_in_one_article_get_distinct_ids() -> None:
    para = "Đoạn văn lặp lại đúng nguyên văn trong bài."
    body = "\n".join([para] * 3)
    chunks = chunk_article(_article(body), 20, 0)
    assert [c.text for c in chunks] == [para] * 3
    assert len({c.chunk_id for c in chunks}) == 3


def test_empty_body_gives_no_chunks() -> None:
    assert chunk_article(_article("")) == []


@pytest.mark.parametrize(("budget", "overlap"), [(10, 0), (100, 50), (100, -1)])
def test_invalid_budget_or_overlap_is_refused(budget: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="budget|overlap"):
        chunk_article(_article("Một câu."), budget, overlap)


def test_chunk_metadata_round_trips_through_the_store_format() -> None:
    chunk = chunk_article(_article("Một câu.", date=None, author=None))[0]
    meta = chunk.metadata()
    assert None not in meta.values()
    assert Chunk.from_store(chunk.chunk_id, chunk.text, meta) == chunk


def _pack_counting_every_join(sentences, max_tokens: int, overlap: int) -> list[str]:
    """The packing rule with an exact count of the joined text at every decision."""
    from index.chunker import _join

    def size(run):
        return count_tokens(_join(run))

    texts, current = [], []
    for sent in sentences:
        if current and size([*current, sent]) > max_tokens:
            texts.append(_join(current))
            carry = []
            for prev in reversed(current):
                candidate = [prev, *carry]
                if size(candidate) > overlap or size([*candidate, sent]) > max_tokens:
                    break
                carry = candidate
            current = carry
        current.append(sent)
    return texts + ([_join(current)] if current else [])


@pytest.mark.parametrize("budget, overlap", [(220, 40), (60, 10), (30, 12)])
def test_counting_only_near_the_budget_packs_as_counting_every_join(budget, overlap) -> None:
    """Sums of sentence counts decide far from the budget; the chunks must not change."""
    from index.chunker import _pack

    for path in SEEDS:
        article = _seed_article(path)
        sentences = [
            (s, j == 0)
            for para in article.body.split("\n")
            for j, s in enumerate(split_sentences(para))
            if count_tokens(s) <= budget
        ]
        packed = [text for text, _ in _pack(sentences, budget, overlap)]
        assert packed == _pack_counting_every_join(sentences, budget, overlap)
