"""The lexicon: domain vocabulary as one data file, extended or replaced by HOIDAP_LEXICON.

The seed file must reproduce the tables that used to live in code, and the consumers
(abbreviation expansion, the EN glossary, title checks, typo fixing, UI examples) must read
whatever lexicon is in use.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import assistant.answering.abbreviations as abbreviations
import assistant.answering.query as query
import assistant.answering.slots as slots
import assistant.web.ui_format as ui_format
from index.errors import ConfigError
from index.lexicon import (
    ENV_VAR,
    SECTIONS,
    Lexicon,
    default_path,
    lexicon,
    load_lexicon,
    reset_lexicon_cache,
)
from index.normalize import match_form


@pytest.fixture(autouse=True)
def fresh_lexicon():
    """Every test starts from, and leaves behind, a lexicon read from the environment."""
    reset_lexicon_cache()
    yield
    reset_lexicon_cache()


def use_lexicon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: dict | str) -> Path:
    """Write a lexicon file, point HOIDAP_LEXICON at it and drop the loaded one."""
    path = tmp_path / "my-lexicon.json"
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv(ENV_VAR, str(path))
    reset_lexicon_cache()
    return path


# --- the seed ------------------------------------------------------------------------------


def test_seed_file_ships_every_section() -> None:
    data = json.loads(default_path().read_text(encoding="utf-8"))
    assert {k for k in data if not k.startswith("_")} == set(SECTIONS)
    assert lexicon() == load_lexicon(default_path())


def test_modules_use_the_seed_lexicon() -> None:
    lex = lexicon()
    assert lex.abbreviations == abbreviations.ABBREVIATIONS
    assert abbreviations.BY_FOLDED["CDS"] == "CĐS"
    assert lex.glossary == query.GLOSSARY_EN_VI
    assert tuple(lex.titles) == slots.TITLES
    assert frozenset(lex.org_heads) == slots.ORG_HEADS
    assert ui_format.EXAMPLE_QUESTIONS == lex.examples == ui_format.example_questions()


def test_seed_keeps_the_values_that_were_in_code() -> None:
    lex = lexicon()
    assert len(lex.abbreviations) == 29
    assert lex.abbreviations["KH&ĐT"] == "Kế hoạch và Đầu tư"
    assert lex.glossary["ministry of justice"] == "Bộ Tư pháp"
    assert len(lex.glossary) == 63 and lex.glossary["chairs"] == "Chủ tịch"
    assert lex.titles[0] == "thủ tướng" and "tổng giám đốc" in lex.titles
    assert "bo" in lex.org_heads and len(lex.org_heads) == 14
    assert lex.body_words == ["ubnd", "hdnd", "tinh", "thanh", "huyen", "chinh"]
    assert lex.misspellings == {"chuyển đối số": "chuyển đổi số"}
    assert any(q.isascii() for q in lex.examples)


def test_seed_behaviour_is_unchanged() -> None:
    text, found = query.expand_abbreviations("Bộ TT&TT và UBND tỉnh thúc đẩy CĐS")
    assert "CĐS (chuyển đổi số)" in text and len(found) == 3
    assert query.expand_abbreviations("Bo KH&DT giao CDS")[1] == [
        "Kế hoạch và Đầu tư",
        "chuyển đổi số",
    ]
    assert "Bộ Tư pháp" in query.translate_glossary("What did the Ministry of Justice draft?")
    assert match_form("Chuyển Đối Số") == "chuyển đổi số"
    assert abbreviations.abbreviated("bộ thông tin và truyền thông") == ["bộ tt&tt", "bộ tttt"]
    assert slots.answer_type("Thứ trưởng Bộ Tài chính nào phát biểu?") == "person"


# --- extending -----------------------------------------------------------------------------


def test_extending_file_adds_an_abbreviation(tmp_path, monkeypatch) -> None:
    use_lexicon(
        tmp_path,
        monkeypatch,
        {"extends": True, "abbreviations": {"ĐMST": "đổi mới sáng tạo"}},
    )
    plan = query.plan_query("Tỉnh thúc đẩy ĐMST và CĐS thế nào?")
    assert plan.expansions == ("đổi mới sáng tạo", "chuyển đổi số")
    assert "ĐMST (đổi mới sáng tạo)" in plan.lexical_text
    # Typed without accents, and spelled out: the same tables follow the new entry.
    assert query.expand_abbreviations("DMST la gi")[1] == ["đổi mới sáng tạo"]
    assert abbreviations.abbreviations_in("dmst") == ["ĐMST"]
    assert "ĐMST" in query.plan_query("Thúc đẩy đổi mới sáng tạo").lexical_text
    assert len(lexicon().abbreviations) == 30


def test_extending_merges_dicts_and_appends_lists_once(tmp_path, monkeypatch) -> None:
    use_lexicon(
        tmp_path,
        monkeypatch,
        {
            "extends": True,
            "_note": "keys starting with _ are notes",
            "abbreviations": {"TP": "Thành phố"},
            "glossary": {"Innovation": "đổi mới sáng tạo"},
            "titles": ["chủ tịch", "viện trưởng"],
            "org_heads": ["Quỹ"],
            "examples": ["ĐMST là gì?"],
        },
    )
    lex = lexicon()
    assert lex.abbreviations["TP"] == "Thành phố"  # overridden, not duplicated
    assert lex.titles.count("chủ tịch") == 1 and lex.titles[-1] == "viện trưởng"
    assert "đổi mới sáng tạo" in query.translate_glossary("Which innovation plan?")
    assert "quy" in slots.ORG_HEADS  # compared without accents
    assert slots.answer_type("Viện trưởng viện nào phát biểu?") == "person"
    assert ui_format.example_questions()[-1] == "ĐMST là gì?"
    assert len(ui_format.example_questions()) == 5


# --- replacing -----------------------------------------------------------------------------


def test_replacing_file_drops_the_defaults(tmp_path, monkeypatch) -> None:
    use_lexicon(tmp_path, monkeypatch, {"abbreviations": {"ĐMST": "đổi mới sáng tạo"}})
    lex = lexicon()
    assert lex == Lexicon(abbreviations={"ĐMST": "đổi mới sáng tạo"})
    assert query.expand_abbreviations("Bộ TT&TT thúc đẩy CĐS") == ("Bộ TT&TT thúc đẩy CĐS", [])
    assert query.plan_query("ĐMST là gì").expansions == ("đổi mới sáng tạo",)
    # Empty sections match nothing (an empty regex alternation would match everywhere).
    assert query.translate_glossary("the Ministry of Justice") == "the Ministry of Justice"
    assert match_form("chuyển đối số") == "chuyển đối số"
    assert slots.answer_type("Thứ trưởng Bộ Tài chính nào phát biểu?") is None
    assert slots.document_years("Theo Bộ luật Dân sự 2015, ai được thừa kế?") == set()
    assert abbreviations.abbreviations_spelled_out("bộ thông tin và truyền thông") == []
    assert ui_format.example_questions() == []


def test_state_is_restored_after_a_custom_lexicon(tmp_path, monkeypatch) -> None:
    use_lexicon(tmp_path, monkeypatch, {"examples": []})
    assert query.expand_abbreviations("CĐS")[1] == []
    monkeypatch.delenv(ENV_VAR)
    reset_lexicon_cache()
    assert query.expand_abbreviations("CĐS")[1] == ["chuyển đổi số"]


# --- bad files -----------------------------------------------------------------------------


def _error(tmp_path, monkeypatch, data: dict | str) -> ConfigError:
    path = use_lexicon(tmp_path, monkeypatch, data)
    with pytest.raises(ConfigError) as info:
        lexicon()
    err = info.value
    assert str(path) in err.message_en and str(path) in err.message_vi
    assert ENV_VAR in err.message_en
    assert err.code == "config_error"
    return err


def test_malformed_json_names_the_file_and_the_line(tmp_path, monkeypatch) -> None:
    err = _error(tmp_path, monkeypatch, '{\n  "extends": true,\n  "titles": ["a",]\n}')
    assert "not valid JSON at line 3" in err.message_en
    assert "dòng 3" in err.message_vi


def test_unknown_section_lists_the_valid_ones(tmp_path, monkeypatch) -> None:
    err = _error(tmp_path, monkeypatch, {"abbreviation": {"X": "y"}})
    assert "unknown section(s) abbreviation" in err.message_en
    assert all(name in err.message_en for name in SECTIONS)
    assert "mục không hợp lệ: abbreviation" in err.message_vi


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"titles": "chủ tịch"}, 'section "titles" must be a list of strings, got a string'),
        ({"abbreviations": ["CĐS"]}, 'section "abbreviations" must be an object'),
        ({"abbreviations": {"CĐS": 1}}, '"abbreviations"."CĐS" must be a non-empty string'),
        ({"org_heads": ["bo", ""]}, 'an entry of "org_heads" must be a non-empty string'),
        ({"extends": "yes"}, '"extends" must be true or false'),
        ("[]", "top level must be a JSON object"),
    ],
)
def test_values_of_the_wrong_type_are_refused(tmp_path, monkeypatch, data, needle) -> None:
    assert needle in _error(tmp_path, monkeypatch, data).message_en


def test_a_missing_file_is_a_config_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere.json"))
    with pytest.raises(ConfigError, match="nowhere.json.*does not exist"):
        load_lexicon()


@pytest.mark.parametrize(
    ("question", "years"),
    [
        ("Theo Bộ luật Dân sự 2015, ai được thừa kế?", {"2015"}),
        ("Luật Đất đai năm 2013 quy định thời hạn sử dụng đất bao lâu?", {"2013"}),
        ("theo luat hinh su 2017 thi bi phat bao nhieu nam", {"2017"}),
        ("Năm 2022, Nam Định xếp thứ mấy?", set()),  # a fact of the question, not a version
        ("Kế hoạch CĐS năm 2022 giao nhiệm vụ gì?", set()),
    ],
)
def test_a_year_after_a_kind_of_document_names_its_version(question, years) -> None:
    assert slots.document_years(question) == years


def test_a_version_year_the_passage_does_not_repeat_is_not_a_missing_number() -> None:
    from assistant.answering.extractive import ExtractiveAnswerer
    from index.lexical import LexicalIndex
    from index.types import Chunk, ScoredChunk

    text = "Người thành niên là người từ đủ mười tám tuổi trở lên. Người chưa thành niên là người chưa đủ mười tám tuổi."
    chunk = Chunk("c0", "luat.txt", "Điều 20. Người thành niên", None, None, text, 0, "h")
    answerer = ExtractiveAnswerer(LexicalIndex.from_chunks([chunk]))
    law = answerer.analyse(
        "Theo Bộ luật Dân sự 2015, người thành niên là người bao nhiêu tuổi?",
        [ScoredChunk(chunk, 1.0)],
        False,
    )
    plan = answerer.analyse(
        "Theo kế hoạch 2015, người thành niên là người bao nhiêu tuổi?",
        [ScoredChunk(chunk, 1.0)],
        False,
    )
    assert law.features["number_missing"] == 0.0
    assert plan.features["number_missing"] == 1.0
