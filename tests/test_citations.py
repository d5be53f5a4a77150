"""Citation checks: a marker survives only when its passage was given and backs its sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.answering.citations import (
    MIN_BIGRAM_OVERLAP,
    MIN_OVERLAP,
    VerifiedStream,
    overlap_ratios,
    supports,
    verify_citations,
)
from index.chunker import chunk_article, split_sentences
from index.clean import clean_article
from index.types import Chunk, ScoredChunk

SEEDS = Path(__file__).resolve().parents[1] / "seeds"

DE_AN_06 = (
    "Chủ trì cuộc họp với các bộ, ngành về tình hình thực hiện Đề án 06, chiều 08/5/2023, "
    "Phó Thủ tướng Trần Hồng Hà yêu cầu Đề án 06 phải đặt trong tổng thể chuyển đổi số quốc gia. "
    "Phó Thủ tướng nhấn mạnh việc đạt được các mục tiêu của Đề án 06 là tiền đề hết sức quan trọng."
)
KINH_TE_SO = (
    "Theo báo cáo của Google, kinh tế số Việt Nam năm 2022 tăng trưởng 28%, cao gấp 3,5 lần "
    "tốc độ tăng trưởng GDP. Tuyên Quang đã hỗ trợ hơn 20.000 thuê bao điện thoại cho hộ nghèo."
)
DO_THI = "Bộ Xây dựng chủ trì nghiên cứu, xây dựng quy hoạch phát triển đô thị thông minh theo Đề án 950."


def _passage(
    text: str, source: str, title: str = "Tin chuyển đổi số", date: str | None = None
) -> ScoredChunk:
    chunk = Chunk(f"id-{source}", source, title, date, None, text, 0, "hash")
    return ScoredChunk(chunk, score=1.0)


PASSAGES = [
    _passage(DE_AN_06, "001.txt", "Phó Thủ tướng Trần Hồng Hà: Đề án 06 tạo đột phá", "2023-05-09"),
    _passage(KINH_TE_SO, "003.txt"),
    _passage(DO_THI, "000.txt"),
]


def test_a_valid_marker_keeps_its_citation_with_a_verbatim_quote() -> None:
    text, cites = verify_citations(
        "Phó Thủ tướng Trần Hồng Hà chủ trì cuộc họp về Đề án 06 chiều 08/5/2023 [1].", PASSAGES
    )
    assert text == "Phó Thủ tướng Trần Hồng Hà chủ trì cuộc họp về Đề án 06 chiều 08/5/2023 [1]."
    assert len(cites) == 1
    c = cites[0]
    assert (c.n, c.source, c.chunk_id, c.date) == (1, "001.txt", "id-001.txt", "2023-05-09")
    assert c.quote in DE_AN_06 and c.quote.startswith("Chủ trì cuộc họp")


@pytest.mark.parametrize("marker", ["[0]", "[4]", "[9]", "[999]"])
def test_markers_out_of_range_are_dropped(marker: str) -> None:
    text, cites = verify_citations(
        f"Bộ Xây dựng chủ trì quy hoạch đô thị thông minh {marker}.", PASSAGES
    )
    assert cites == []
    assert text == ""  # the claim lost its only citation, so it is not delivered


def test_a_marker_pointing_to_an_unrelated_passage_loses_its_citation() -> None:
    answer = "Bộ Xây dựng chủ trì quy hoạch đô thị thông minh [2]. Kinh tế số năm 2022 tăng trưởng 28% [2]."
    text, cites = verify_citations(answer, PASSAGES)
    assert text == "Kinh tế số năm 2022 tăng trưởng 28% [1]."
    assert [c.source for c in cites] == ["003.txt"]


def test_markers_are_renumbered_in_order_of_first_use() -> None:
    answer = "Bộ Xây dựng chủ trì quy hoạch đô thị thông minh [3]. Kinh tế số năm 2022 tăng 28% [2]. Bộ Xây dựng lập quy hoạch theo Đề án 950 [3]."
    text, cites = verify_citations(answer, PASSAGES)
    assert [c.source for c in cites] == ["000.txt", "003.txt"]
    assert [c.n for c in cites] == [1, 2]
    assert text.endswith(
        "thông minh [1]. Kinh tế số năm 2022 tăng 28% [2]. Bộ Xây dựng lập quy hoạch theo Đề án 950 [1]."
    )


def test_comma_separated_and_repeated_markers_are_normalised() -> None:
    answer = "Phó Thủ tướng Trần Hồng Hà chủ trì cuộc họp về Đề án 06 [1, 2]. Kinh tế số tăng trưởng 28% [2][2]."
    text, cites = verify_citations(answer, PASSAGES)
    assert (
        text
        == "Phó Thủ tướng Trần Hồng Hà chủ trì cuộc họp về Đề án 06 [1]. Kinh tế số tăng trưởng 28% [2]."
    )
    assert [c.source for c in cites] == ["001.txt", "003.txt"]


def test_a_sentence_citing_two_passages_keeps_both_when_both_back_it() -> None:
    twin = _passage(
        "Kinh tế số Việt Nam năm 2022 tăng trưởng 28% theo báo cáo của Google.", "002.txt"
    )
    text, cites = verify_citations(
        "Kinh tế số Việt Nam năm 2022 tăng trưởng 28% [1][2].", [PASSAGES[1], twin]
    )
    assert text == "Kinh tế số Việt Nam năm 2022 tăng trưởng 28% [1] [2]."
    assert [c.source for c in cites] == ["003.txt", "002.txt"]


@pytest.mark.parametrize(
    ("sentence", "backed"),
    [
        ("Kinh tế số Việt Nam năm 2022 tăng trưởng 28%.", True),
        (
            "Kinh tế số Việt Nam năm 2022 tăng trưởng 30%.",
            False,
        ),  # a number the passage never states
        ("Kinh tế số tăng nhanh gấp 3,5 lần so với tăng trưởng GDP.", True),
        (
            "Tuyên Quang đã hỗ trợ hơn 20000 thuê bao điện thoại cho hộ nghèo.",
            True,
        ),  # 20.000 written 20000
        ("Tuyên Quang đã hỗ trợ hơn 30.000 thuê bao điện thoại cho hộ nghèo.", False),
    ],
)
def test_numbers_must_occur_in_the_cited_passage(sentence: str, backed: bool) -> None:
    assert supports(sentence, PASSAGES[1].chunk) is backed


def test_a_reformatted_date_still_matches() -> None:
    assert supports("Cuộc họp diễn ra vào chiều ngày 8/5/2023.", PASSAGES[0].chunk)
    assert not supports("Cuộc họp diễn ra vào chiều ngày 9/5/2023.", PASSAGES[0].chunk)


def test_the_title_counts_as_part_of_the_passage() -> None:
    # The model sees the title in the passage tag; "Trần Hồng Hà" is only in the title here.
    chunk = Chunk(
        "c",
        "001.txt",
        "Phó Thủ tướng Trần Hồng Hà: Đề án 06",
        None,
        None,
        "Phó Thủ tướng yêu cầu Đề án 06 phải đặt trong tổng thể chuyển đổi số quốc gia.",
        0,
        "h",
    )
    assert supports(
        "Phó Thủ tướng Trần Hồng Hà yêu cầu Đề án 06 đặt trong chuyển đổi số quốc gia.", chunk
    )


@pytest.mark.parametrize(
    "sentence",
    [
        "Tỉnh Nam Định đặt mục tiêu phát triển xã hội số, kinh tế số là nhiệm vụ quan trọng của các ngành.",
        "Thủ tướng yêu cầu các địa phương đặt mục tiêu quan trọng cho kinh tế số.",
    ],
)
def test_common_syllables_alone_do_not_back_a_sentence(sentence: str) -> None:
    # Half or more of the syllables occur in the passage ("các", "mục tiêu", "quan trọng", "số"),
    # which a syllable-only check accepted; the passage's words do not make the claim.
    unigram, bigram = overlap_ratios(sentence, DE_AN_06)
    assert unigram >= MIN_OVERLAP and bigram < MIN_BIGRAM_OVERLAP
    assert not supports(sentence, PASSAGES[0].chunk)
    assert verify_citations(sentence[:-1] + " [1].", PASSAGES)[1] == []


def test_extractive_sentences_copied_verbatim_always_pass() -> None:
    answer = " ".join(
        f"{s} [{i}]" for i, p in enumerate(PASSAGES, 1) for s in split_sentences(p.chunk.text)
    )
    text, cites = verify_citations(answer, PASSAGES)
    assert [c.source for c in cites] == ["001.txt", "003.txt", "000.txt"]
    assert text.count("[") == sum(len(split_sentences(p.chunk.text)) for p in PASSAGES)


def test_an_answer_without_markers_has_no_citations_and_no_text() -> None:
    text, cites = verify_citations("Bộ Xây dựng chủ trì quy hoạch.", PASSAGES)
    assert (text, cites) == ("", [])


def test_uncited_and_fabricated_sentences_are_removed_cited_ones_kept() -> None:
    answer = (
        "Kinh tế số năm 2022 tăng trưởng 28% [2]. "
        "Đây là thành tích cao nhất thế giới. "  # no marker
        "Hà Nội có 10 triệu doanh nghiệp số [2]."  # fabricated: the passage never says it
    )
    text, cites = verify_citations(answer, PASSAGES)
    assert text == "Kinh tế số năm 2022 tăng trưởng 28% [1]."
    assert [c.source for c in cites] == ["003.txt"]


def _stream(answer: str, size: int) -> tuple[str, tuple]:
    stream = VerifiedStream(PASSAGES)
    shown = "".join(stream.feed(answer[i : i + size]) for i in range(0, len(answer), size))
    text, cites, rest = stream.finish()
    return shown + (rest or ""), (text, cites, rest)


@pytest.mark.parametrize("size", [1, 3, 17, 1000])
def test_a_streamed_answer_shows_only_verified_sentences_and_ends_as_the_final_text(size) -> None:
    answer = (
        "Kinh tế số năm 2022 tăng trưởng 28% [2]. Bộ Xây dựng chủ trì quy hoạch [9]. "
        "Câu này không có nguồn. Bộ Xây dựng chủ trì quy hoạch đô thị thông minh [3]."
    )
    shown, (text, cites, rest) = _stream(answer, size)
    assert rest is not None and shown == text == verify_citations(answer, PASSAGES)[0]
    assert "[9]" not in shown and "không có nguồn" not in shown
    assert [c.source for c in cites] == ["003.txt", "000.txt"]


def test_nothing_is_shown_while_the_first_sentence_is_open() -> None:
    stream = VerifiedStream(PASSAGES)
    assert stream.feed("Kinh tế số năm 2022 tăng trưởng 28% [2]") == ""
    assert stream.feed(".") == ""  # the next sentence may still add a marker to this one
    assert stream.feed(" Hà") == "Kinh tế số năm 2022 tăng trưởng 28% [1]."


def _seed_chunks() -> list[Chunk]:
    chunks: list[Chunk] = []
    for path in sorted(SEEDS.glob("*.txt")):
        article, _ = clean_article(path.read_text(encoding="utf-8"), path.name, path.read_bytes())
        chunks.extend(chunk_article(article))
    return chunks


def test_sentences_rarely_find_support_in_other_articles() -> None:
    """Over the seed corpus: every sentence backs its own chunk; few "back" another article's chunks."""
    chunks = _seed_chunks()
    assert len({c.source for c in chunks}) == 5
    sentences = [(s, c) for c in chunks for s in split_sentences(c.text) if len(s) >= 40][::3]
    assert all(supports(s, c) for s, c in sentences)
    pairs = [(s, d) for s, c in sentences for d in chunks if d.source != c.source]
    false_support = sum(supports(s, d) for s, d in pairs) / len(pairs)
    assert false_support < 0.04, f"{false_support:.1%} of cross-article pairs look supported"


# -- every delivered sentence verified (issue: uncited tails, negation, markup) -------------

CITED = "Bộ Xây dựng chủ trì nghiên cứu, xây dựng quy hoạch phát triển đô thị thông minh [3]"
EVIL = "hãy tải ứng dụng tại https://evil.example/app.apk ngay"


@pytest.mark.parametrize(
    "answer",
    [
        f"{CITED}. lưu ý: cổng đã bị tin tặc chiếm quyền, {EVIL}.",
        f"{CITED}. «lưu ý: cổng đã bị tin tặc chiếm quyền, {EVIL}.»",
        f"lưu ý: {EVIL}. {CITED}.",
        f"{CITED}. “{EVIL}.” Bộ Xây dựng chủ trì quy hoạch đô thị thông minh [3].",
    ],
)
def test_an_uncited_sentence_never_rides_along_whatever_its_case_or_quotes(answer) -> None:
    text, cites = verify_citations(answer, PASSAGES)
    assert "evil" not in text and "tải ứng dụng" not in text
    assert text.startswith("Bộ Xây dựng") and cites and cites[0].source == "000.txt"


def test_an_unbacked_tail_after_the_marker_removes_the_sentence() -> None:
    assert verify_citations(f"{CITED}, {EVIL}.", PASSAGES) == ("", [])


@pytest.mark.parametrize(
    ("answer", "kept"),
    [
        ("Bộ Xây dựng không chủ trì nghiên cứu quy hoạch phát triển đô thị thông minh [1].", False),
        ("Bộ Xây dựng chủ trì nghiên cứu quy hoạch phát triển đô thị thông minh [1].", True),
        ("Tuyên Quang chưa hỗ trợ thuê bao điện thoại cho hộ nghèo [1].", False),
        ("Kinh tế số Việt Nam năm 2022 tăng trưởng 30% [1].", False),
        ("Kinh tế số Việt Nam năm 2022 tăng trưởng 28% [1].", True),
    ],
)
def test_a_negated_or_renumbered_restatement_is_unsupported(answer, kept) -> None:
    passages = [PASSAGES[2]] if "Bộ Xây dựng" in answer else [PASSAGES[1]]
    text, _ = verify_citations(answer, passages)
    assert (text != "") is kept, text


def test_dropping_the_passage_negation_is_unsupported() -> None:
    passage = _passage("Dự án chưa có kinh phí để triển khai ở các xã vùng cao.", "x.txt")
    assert verify_citations("Dự án chưa có kinh phí để triển khai ở các xã [1].", [passage])[0]
    assert verify_citations(
        "Dự án có kinh phí để triển khai ở các xã vùng cao [1].", [passage]
    ) == (
        "",
        [],
    )
    air = _passage("Chỉ số chất lượng không khí tại Hà Nội đã được cải thiện rõ rệt.", "y.txt")
    assert verify_citations("Chất lượng không khí tại Hà Nội đã được cải thiện [1].", [air])[0]


@pytest.mark.parametrize(
    "markup",
    [
        "![x](http://127.0.0.1:9/leak?q=bi-mat)",
        '<img src=x onerror="alert(1)">',
        "[bấm vào đây](javascript:alert(1))",
        "javascript:alert(1)",
        "<script>alert(1)</script>",
    ],
)
def test_answers_leave_as_plain_text_keeping_their_markers(markup) -> None:
    text = f"Bộ Xây dựng chủ trì {markup} quy hoạch phát triển đô thị thông minh."
    passage = _passage(text, "markup.txt")
    answer, cites = verify_citations(f"{text} [1]", [passage])
    assert cites and answer.endswith("[1]")
    for bad in ("![", "<img", "<script", "javascript:", "onerror", "127.0.0.1"):
        assert bad not in answer
