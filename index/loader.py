"""Find article files and read text ones; a bad file is reported, never fatal.

Which suffixes are articles is the source readers' business (:mod:`index.sources`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024
MAX_FILE_BYTES = 20 * MIB


@dataclass(frozen=True)
class RawFile:
    path: Path
    source: str  # file name: how citations name the article
    text: str
    data: bytes


@dataclass(frozen=True)
class FileError:
    """One line naming the file and what is wrong with it, in Vietnamese and English."""

    path: Path | str  # a file, or a web address
    message: str
    message_vi: str = ""

    def __str__(self) -> str:
        if self.message_vi:
            return f"{self.path}: {self.message_vi} ({self.message})"
        return f"{self.path}: {self.message}"


def _supported() -> tuple[str, ...]:
    from index.sources import SUPPORTED

    return SUPPORTED


def __getattr__(name: str):
    """``SUPPORTED``: the suffixes the source readers take (imported late: they import us)."""
    if name == "SUPPORTED":
        return _supported()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Documents a folder may hold that no reader takes: named rather than passed over.
OTHER_DOCUMENTS = (".doc", ".odt", ".rtf", ".xls", ".xlsx", ".ods", ".ppt", ".pptx", ".epub")


def _unsupported(path: Path) -> FileError:
    supported = ", ".join(_supported())
    return FileError(
        path,
        f"unsupported file type {path.suffix!r}; expected one of {supported} "
        "(save a document as .docx or .pdf)",
        f"loại tệp không được hỗ trợ; dùng {supported} (hãy lưu văn bản dạng .docx hoặc .pdf)",
    )


def _unreadable_documents(folder: Path) -> list[FileError]:
    return [
        _unsupported(f)
        for f in sorted(folder.rglob("*"))
        if f.suffix.lower() in OTHER_DOCUMENTS
        and f.is_file()
        and not any(part.startswith(".") for part in f.relative_to(folder).parts)
    ]


def discover(paths: list[Path]) -> tuple[list[Path], list[FileError]]:
    """Files to index under ``paths`` (folders are walked, sorted for stable order)."""
    found, errors = discover_sources(paths)
    return [path for path, _ in found], errors


def discover_sources(paths: list[Path]) -> tuple[list[tuple[Path, str]], list[FileError]]:
    """(file, source name) pairs under ``paths``, and what could not be used.

    A file given directly is named by its file name; a file found in a folder by its
    path relative to that folder, so ``a/tin.txt`` and ``b/tin.txt`` stay distinct and a
    name never depends on which other files are indexed with it. A file reached twice
    (a folder and a file inside it) is indexed once.
    """
    supported = _supported()
    found: list[tuple[Path, str]] = []
    errors: list[FileError] = []
    seen: set[Path] = set()

    def add(path: Path, source: str) -> None:
        real = path.resolve()
        if real not in seen:
            seen.add(real)
            found.append((path, source))

    for p in paths:
        if not p.exists():
            errors.append(
                FileError(
                    p, "no such file or folder; check the path", "không có tệp hay thư mục này"
                )
            )
        elif p.is_dir():
            files = sorted(
                f
                for f in p.rglob("*")
                if f.is_file()
                and f.suffix.lower() in supported
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
            if not files:
                errors.append(
                    FileError(
                        p,
                        f"folder has no {', '.join(supported)} files",
                        f"thư mục không có tệp {', '.join(supported)} nào",
                    )
                )
            for f in files:
                add(f, f.relative_to(p).as_posix())
            errors.extend(_unreadable_documents(p))
        elif p.suffix.lower() in supported:
            add(p, p.name)
        else:
            errors.append(_unsupported(p))
    return found, errors


def read_bytes(path: Path, max_bytes: int) -> bytes | FileError:
    """The file's bytes, or why they cannot be used (missing, unreadable, too large, empty)."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return FileError(
                path,
                f"file is {size / MIB:.1f} MB, over the {max_bytes / MIB:g} MB limit "
                "(HOIDAP_MAX_FILE_MB); split it into articles",
                "tệp quá lớn; hãy tách thành từng bài",
            )
        data = path.read_bytes()
    except OSError as exc:
        return FileError(path, f"cannot read file: {exc.strerror or exc}", "không đọc được tệp")
    if not data.strip():
        return FileError(path, "file is empty", "tệp rỗng")
    return data


def read_file(
    path: Path, max_bytes: int = MAX_FILE_BYTES, source: str | None = None
) -> RawFile | FileError:
    """Read one file as UTF-8 text, or say in one line why it cannot be indexed."""
    data = read_bytes(path, max_bytes)
    if isinstance(data, FileError):
        return data
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return FileError(
            path,
            "file is UTF-16 text; re-save the file as UTF-8",
            "tệp mã hóa UTF-16; hãy lưu lại dạng UTF-8",
        )
    if b"\x00" in data[:8192]:
        return FileError(
            path,
            "file looks binary (NUL bytes); expected UTF-8 text",
            "tệp nhị phân, không phải văn bản",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return FileError(
            path,
            f"not valid UTF-8 (byte {exc.start}); re-save the file as UTF-8",
            "không phải văn bản UTF-8; hãy lưu lại tệp dạng UTF-8",
        )
    return RawFile(path=path, source=source or path.name, text=text, data=data)
