"""An answer sentence opening with «Tỉnh», «Ông», «Bộ» … names what it refers back to."""

from __future__ import annotations

import json

import pytest

from assistant.answering.citations import verify_citations
from assistant.answering.subjects import (
    named_subject,
    opening_back_reference,
    referent,
    resolve_subject,
)
from index.errors import ConfigError
from index.lexicon import load_lexicon, reset_lexicon_cache
from index.types import Chunk, ScoredChunk


@pytest.mark.parametrize(
    ("sentence", "head"),
    [
        ("Tỉnh sẽ hoàn thành chính quyền số vào năm 2025.", "Tỉnh"),
        ("Ông cho biết dữ liệu là tài nguyên mới.", "Ông"),
        ("Bộ cũng đã ban hành hướng dẫn.", "Bộ"),
        ("Bộ trưởng cho biết dữ liệu là tài nguyên mới.", None),  # half of a word
        ("Trường hợp này được xử lý riêng.", None),
        ("Tỉnh, thành phố cần hoàn thành.", None),  # a list, not a reference
        ("Tỉnh Nam Định ban hành kế hoạch.", None),  # it names itself
    ],
)
def test_a_sentence_opens_with_a_back_reference_only_when_it_is_the_subject(sentence, head):
    opening = opening_back_reference(sentence)
    assert (opening.head if opening else None) == head


def test_a_province_is_the_one_its_article_names_most_not_a_name_after_tinh():
    before = (
        "Nam Định là địa phương đi đầu. Chủ tịch UBND tỉnh Trần Lê Đoài cho biết "
        "Nam Định đã có kế hoạch."
    )
    after = " Kiến trúc chính quyền điện tử tỉnh Nam Định phiên bản 2.0 được ban hành."
    sentence = "Tỉnh đã kịp thời ban hành các nghị quyết chuyên đề."
    assert referent("Tỉnh", before, "", after) == "Nam Định"
    assert resolve_subject(sentence, before, "", after) == (
        "Tỉnh Nam Định đã kịp thời ban hành các nghị quyết chuyên đề."
    )


def test_a_place_followed_by_a_persons_name_is_read_as_the_place():
    before = "Chủ tịch UBND tỉnh Nam Định Phạm Đình Nghị phát biểu. UBND tỉnh Nam Định chỉ đạo."
    assert referent("Tỉnh", before) == "Nam Định"
    # Only the long form: a place of more than three words is not trusted.
    assert referent("Tỉnh", "Chủ tịch UBND tỉnh Nam Định Phạm Đình Nghị phát biểu.") is None


def test_a_person_is_the_one_named_last_before_the_sentence():
    before = (
        "Theo ông Nguyễn Huy Dũng, dữ liệu là tài nguyên. Ông Vũ Trọng Quế, Giám đốc Sở, nói thêm."
    )
    assert resolve_subject("Ông cho biết sẽ số hóa hồ sơ.", before) == (
        "Ông Vũ Trọng Quế cho biết sẽ số hóa hồ sơ."
    )
    # A person named only after the sentence is not the one it refers back to.
    assert resolve_subject("Ông cho biết.", "", "", " Ông Nguyễn Văn A nói.") == "Ông cho biết."


@pytest.mark.parametrize(
    ("before", "name"),
    [
        ("Bộ Thông tin và Truyền thông chủ trì.", "Thông tin và Truyền thông"),
        ("Bộ Tài chính cho biết.", "Tài chính"),
        ("Bộ TT&TT cho biết.", "TT&TT"),
        ("Bộ Y tế và Bộ Công an phối hợp.", "Công an"),  # «và» before another body ends a name
    ],
)
def test_a_bodys_name_is_read_in_sentence_case(before, name):
    assert referent("Bộ", before) == name


def test_nothing_to_name_leaves_the_sentence_as_it_is():
    sentence = "Tỉnh sẽ hoàn thành chính quyền số vào năm 2025."
    assert resolve_subject(sentence, "Quảng Ninh là địa phương dẫn đầu.") == sentence
    assert resolve_subject("Đây là phiên họp thứ nhất.", "Ủy ban Quốc gia họp.") == (
        "Đây là phiên họp thứ nhất."
    )


def test_the_named_sentence_passes_the_citation_checks_and_quotes_the_article():
    text = (
        "Tuyên Quang đẩy mạnh chuyển đổi số. UBND tỉnh Tuyên Quang ban hành kế hoạch số 35. "
        "Tỉnh sẽ hoàn thành cơ sở dữ liệu đất đai trong năm 2024."
    )
    chunk = Chunk("c1", "tq.txt", "Chuyển đổi số ở Tuyên Quang", None, None, text, 0, "h")
    sentence = "Tỉnh sẽ hoàn thành cơ sở dữ liệu đất đai trong năm 2024."
    named = named_subject(sentence, chunk)
    assert named == "Tỉnh Tuyên Quang sẽ hoàn thành cơ sở dữ liệu đất đai trong năm 2024."
    answer, citations = verify_citations(f"{named} [1]", [ScoredChunk(chunk, 1.0)])
    assert answer == f"{named} [1]"
    assert citations[0].quote == sentence  # the article's own words


def test_a_sentence_not_found_in_its_passage_is_left_alone():
    chunk = Chunk("c1", "a.txt", "Tỉnh Nam Định", None, None, "tỉnh Nam Định họp.", 0, "h")
    assert named_subject("Tỉnh sẽ họp.", chunk) == "Tỉnh sẽ họp."


def test_a_name_kind_the_code_does_not_know_is_a_clear_lexicon_error(tmp_path, monkeypatch):
    path = tmp_path / "lexicon.json"
    path.write_text(
        json.dumps({"extends": True, "back_reference_names": {"Tỉnh": "city"}}), encoding="utf-8"
    )
    with pytest.raises(ConfigError) as err:
        load_lexicon(path)
    assert "back_reference_names" in str(err.value) and "place" in str(err.value)


def test_a_deployments_lexicon_can_add_a_back_reference(tmp_path, monkeypatch):
    path = tmp_path / "lexicon.json"
    path.write_text(
        json.dumps(
            {
                "extends": True,
                "back_references": ["Viện"],
                "back_reference_names": {"Viện": "body"},
            }
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("HOIDAP_LEXICON", str(path))
    reset_lexicon_cache()
    try:
        assert (
            resolve_subject("Viện sẽ công bố.", "Viện Hàn lâm họp.") == "Viện Hàn lâm sẽ công bố."
        )
    finally:
        monkeypatch.delenv("HOIDAP_LEXICON")
        reset_lexicon_cache()


ARTICLE = """Quảng Trị đẩy mạnh chuyển đổi số trong quản lý đất đai

Năm 2023, UBND tỉnh Quảng Trị ban hành kế hoạch chuyển đổi số với nhiều nhiệm vụ trọng tâm. \
Quảng Trị xác định dữ liệu là tài nguyên quan trọng.

Tỉnh sẽ hoàn thành cơ sở dữ liệu đất đai vào tháng 6 năm 2024. Ông Lê Văn Hòa, Giám đốc Sở \
Thông tin và Truyền thông tỉnh Quảng Trị, cho biết nhiều thủ tục đã được số hóa. Ông cho biết \
tỉnh đã cấp 120.000 tài khoản định danh điện tử.
"""


@pytest.fixture(scope="module")
def article_settings(tmp_path_factory):
    """One indexed article (the real default embedder) whose answers open with «Tỉnh», «Ông»."""
    from index.config import Settings
    from index.pipeline import run_index

    folder = tmp_path_factory.mktemp("article")
    (folder / "quang-tri.txt").write_text(ARTICLE, encoding="utf-8")
    settings = Settings.load(env={"HOIDAP_HOME": str(tmp_path_factory.mktemp("home"))})
    run_index([folder], settings)
    return settings


@pytest.mark.parametrize("answerer", ["rules", "reader"])
@pytest.mark.parametrize(
    ("question", "named", "quoted"),
    [
        (
            "Quảng Trị sẽ hoàn thành cơ sở dữ liệu đất đai khi nào?",
            "Tỉnh Quảng Trị sẽ hoàn thành",
            "Tỉnh sẽ hoàn thành",
        ),
        (
            "Quảng Trị đã cấp bao nhiêu tài khoản định danh điện tử?",
            "Ông Lê Văn Hòa cho biết",
            "120.000",
        ),
    ],
)
def test_an_answer_names_its_subject_and_cites_the_article_sentence(
    article_settings, answerer, question, named, quoted
):
    import dataclasses

    from assistant.answering.assistant import Assistant

    assistant = Assistant(dataclasses.replace(article_settings, answerer=answerer))
    answer = assistant.ask(question)
    assert not answer.refused and answer.answer.startswith(named)
    assert quoted in answer.citations[0].quote and quoted in answer.citations[0].text
