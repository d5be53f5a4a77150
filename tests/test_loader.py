"""Finding and reading article files: every bad file gets one clear line naming it."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from index.loader import MIB, SUPPORTED, FileError, RawFile, discover, discover_sources, read_file

GOOD = "Tiêu đề bài viết\n\nNội dung bài viết về chuyển đổi số.\n"


def _write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def _one_line_naming(err: FileError, path: Path) -> str:
    text = str(err)
    assert "\n" not in text
    assert str(path) in text
    return text


def test_folders_are_walked_sorted_and_only_supported_types_kept(tmp_path: Path) -> None:
    for name in ["b.md", "a.txt", "sub/c.html", "sub/deeper/d.htm", "notes.pdf", "x.docx"]:
        _write(tmp_path / name, GOOD)
    _write(tmp_path / ".hidden.txt", GOOD)
    _write(tmp_path / ".git" / "readme.md", GOOD)
    _write(tmp_path / "anh.jpg", b"\xff\xd8\xff")  # not a document: passed over in silence
    _write(tmp_path / "sub" / "bang.xlsx", b"PK")  # a document we cannot read: named
    found, errors = discover_sources([tmp_path])
    assert [source for _, source in found] == [
        "a.txt",
        "b.md",
        "notes.pdf",
        "sub/c.html",
        "sub/deeper/d.htm",
        "x.docx",
    ]
    assert [str(e.path) for e in errors] == [str(tmp_path / "sub" / "bang.xlsx")]
    assert "unsupported file type '.xlsx'" in str(errors[0]) and ".docx" in str(errors[0])
    assert discover([tmp_path])[0] == [path for path, _ in found]


def test_supported_suffixes_are_case_insensitive(tmp_path: Path) -> None:
    _write(tmp_path / "BAI.TXT", GOOD)
    _write(tmp_path / "Trang.HTML", GOOD)
    found, _ = discover_sources([tmp_path])
    assert sorted(s for _, s in found) == ["BAI.TXT", "Trang.HTML"]
    assert {".txt", ".md", ".html", ".pdf", ".docx"} <= set(SUPPORTED)


def test_same_file_name_in_two_folders_gets_two_distinct_sources(tmp_path: Path) -> None:
    _write(tmp_path / "2022" / "tin.txt", GOOD)
    _write(tmp_path / "2023" / "tin.txt", GOOD)
    found, errors = discover_sources([tmp_path])
    assert errors == []
    assert [s for _, s in found] == ["2022/tin.txt", "2023/tin.txt"]


def test_a_file_given_directly_is_named_by_its_file_name(tmp_path: Path) -> None:
    path = _write(tmp_path / "sub" / "tin.md", GOOD)
    assert discover_sources([path]) == ([(path, "tin.md")], [])


def test_a_file_reached_twice_is_listed_once(tmp_path: Path) -> None:
    path = _write(tmp_path / "tin.txt", GOOD)
    found, _ = discover_sources([tmp_path, path, tmp_path])
    assert found == [(path, "tin.txt")]


def test_missing_path_empty_folder_and_unsupported_file_are_reported(tmp_path: Path) -> None:
    missing = tmp_path / "khong-co"
    empty = tmp_path / "rong"
    empty.mkdir()
    sheet = _write(tmp_path / "bang.ods", b"PK")
    found, errors = discover_sources([missing, empty, sheet])
    assert found == []
    texts = [_one_line_naming(e, p) for e, p in zip(errors, [missing, empty, sheet], strict=True)]
    assert "no such file or folder" in texts[0] and "không có tệp" in texts[0]
    assert "has no" in texts[1] and ".pdf" in texts[1] and ".docx" in texts[1]
    assert "unsupported file type '.ods'" in texts[2]


def test_reads_utf8_and_strips_a_bom(tmp_path: Path) -> None:
    path = _write(tmp_path / "bom.txt", b"\xef\xbb\xbf" + GOOD.encode())
    raw = read_file(path, source="nhom/bom.txt")
    assert isinstance(raw, RawFile)
    assert raw.text == GOOD
    assert raw.source == "nhom/bom.txt"
    assert raw.data.startswith(b"\xef\xbb\xbf")  # the hash covers the bytes on disk


def test_mixed_nfc_nfd_text_is_read_as_is(tmp_path: Path) -> None:
    text = "Chuyển đổi số " + unicodedata.normalize("NFD", "Chuyển đổi số")
    raw = read_file(_write(tmp_path / "mixed.txt", text))
    assert isinstance(raw, RawFile)
    assert raw.text == text  # normalization happens at cleaning, originals stay readable


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("empty.txt", b"", "file is empty"),
        ("spaces.txt", b" \n\t \n", "file is empty"),
        ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("latin1.txt", "Hà Nội phố".encode("latin-1", "replace") + "é".encode("latin-1"), "UTF-8"),
        ("cp1258.md", "Hà Nội".encode("cp1258", "replace"), "not valid UTF-8"),
        ("utf16.html", "Tiếng Việt".encode("utf-16"), "UTF-16"),
    ],
)
def test_bad_files_get_one_line_naming_the_file(
    tmp_path: Path, name: str, data: bytes, expected: str
) -> None:
    path = _write(tmp_path / name, data)
    err = read_file(path)
    assert isinstance(err, FileError)
    assert expected in _one_line_naming(err, path)


def test_non_utf8_error_says_where_and_what_to_do(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.txt", b"ok ok \xff rest")
    text = str(read_file(path))
    assert "byte 6" in text
    assert "re-save the file as UTF-8" in text
    assert "UTF-8" in text and "hãy lưu lại" in text


def test_a_file_over_the_size_limit_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    with path.open("wb") as fh:  # sparse: 3 MiB on paper, nothing to read
        fh.truncate(3 * MIB)
    err = read_file(path, max_bytes=2 * MIB)
    assert isinstance(err, FileError)
    text = _one_line_naming(err, path)
    assert "3.0 MB" in text and "2 MB limit" in text and "HOIDAP_MAX_FILE_MB" in text


def test_an_unreadable_path_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "la-thu-muc.txt"
    folder.mkdir()
    err = read_file(folder)
    assert isinstance(err, FileError)
    assert "cannot read file" in _one_line_naming(err, folder)
