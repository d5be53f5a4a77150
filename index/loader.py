"""Find and read article files (.txt, .md, .html); a bad file is reported, never fatal."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm")
MAX_FILE_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class RawFile:
    path: Path
    source: str  # file name: how citations name the article
    text: str
    data: bytes


@dataclass(frozen=True)
class FileError:
    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def discover(paths: list[Path]) -> tuple[list[Path], list[FileError]]:
    """Files to index under ``paths`` (folders are walked, sorted for stable order)."""
    files: list[Path] = []
    errors: list[FileError] = []
    for p in paths:
        if not p.exists():
            errors.append(FileError(p, "no such file or folder; check the path"))
        elif p.is_dir():
            found = sorted(
                f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUPPORTED and not f.name.startswith(".")
            )
            if not found:
                errors.append(FileError(p, f"folder has no {'/'.join(SUPPORTED)} files"))
            files.extend(found)
        elif p.suffix.lower() in SUPPORTED:
            files.append(p)
        else:
            errors.append(FileError(p, f"unsupported file type {p.suffix!r}; expected one of {SUPPORTED}"))
    return files, errors


def read_file(path: Path, max_bytes: int = MAX_FILE_BYTES) -> RawFile | FileError:
    """Read one file as UTF-8 text, or say in one line why it cannot be indexed."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return FileError(
                path,
                f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit "
                "(HOIDAP_MAX_FILE_MB); split it into articles",
            )
        data = path.read_bytes()
    except OSError as exc:
        return FileError(path, f"cannot read file: {exc.strerror or exc}")
    if not data.strip():
        return FileError(path, "file is empty")
    if b"\x00" in data[:8192]:
        return FileError(path, "file looks binary (NUL bytes); expected UTF-8 text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return FileError(
            path, f"not valid UTF-8 (byte {exc.start}); re-save the file as UTF-8"
        )
    return RawFile(path=path, source=path.name, text=text, data=data)
