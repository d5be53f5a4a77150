"""The lexicon: hoidap's domain vocabulary as data, so a deployment can change it without code.

One JSON file holds every word list the matching code relies on (abbreviations, the
EN->VI glossary, titles, organisation words, scraping typos, the UI's example questions).
The seed lexicon ships as package data (``index/data/lexicon.json``). ``HOIDAP_LEXICON``
names another file: with ``"extends": true`` its entries are merged over the seed (dict
keys override or add, lists are appended without duplicates); without it the file replaces
the seed and a missing section is empty. Keys starting with ``_`` are notes and ignored.
The file is read once per process (:func:`lexicon`); :func:`reset_lexicon_cache` rereads it.

It lives in ``index`` (not ``assistant``) because :mod:`index.normalize` needs the typo
table and ``index`` must not import ``assistant``.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from functools import lru_cache, wraps
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from index.errors import ConfigError

ENV_VAR = "HOIDAP_LEXICON"
DEFAULT_NAME = "data/lexicon.json"

_DICT_SECTIONS = ("abbreviations", "glossary", "misspellings", "back_reference_names")
_LIST_SECTIONS = (
    "titles",
    "org_heads",
    "body_words",
    "document_kinds",
    "examples",
    "back_references",
    "subject_followers",
)
SECTIONS = _DICT_SECTIONS + _LIST_SECTIONS

T = TypeVar("T")


@dataclass(frozen=True)
class Lexicon:
    """Domain vocabulary. Order is kept as written: some consumers match in that order."""

    abbreviations: dict[str, str] = field(default_factory=dict)  # "CĐS" -> "chuyển đổi số"
    glossary: dict[str, str] = field(default_factory=dict)  # English phrase -> Vietnamese
    titles: list[str] = field(default_factory=list)  # "chủ tịch", "bộ trưởng", ...
    org_heads: list[str] = field(default_factory=list)  # words opening an organisation name
    body_words: list[str] = field(default_factory=list)  # more words opening a body's name
    misspellings: dict[str, str] = field(default_factory=dict)  # scraping typo -> fix
    document_kinds: list[str] = field(default_factory=list)  # "bộ luật", "nghị định", ...
    examples: list[str] = field(default_factory=list)  # the UI's example questions
    # Sentence openers that name nothing themselves ("Tỉnh sẽ …", "Ông cho biết …").
    back_references: list[str] = field(default_factory=list)
    # Syllables after which such an opener is the subject («Tỉnh sẽ …»), not half of a
    # compound («Bộ trưởng …», «Trường hợp …»).
    subject_followers: list[str] = field(default_factory=list)
    # Openers a name can follow in the article, and what they name: "place" | "body" | "person".
    back_reference_names: dict[str, str] = field(default_factory=dict)


def default_path() -> Path:
    """Where the seed lexicon shipped with the package lies."""
    return Path(str(resources.files("index").joinpath(DEFAULT_NAME)))


def _error(path: Path, what_en: str, what_vi: str) -> ConfigError:
    """A ConfigError naming the file, what is wrong and what to do (English + Vietnamese)."""
    return ConfigError(
        f"Lexicon file {path} ({ENV_VAR}): {what_en}. Fix the file, or unset {ENV_VAR} "
        "to use the built-in lexicon.",
        f"Tệp từ vựng {path} ({ENV_VAR}): {what_vi}. Hãy sửa tệp, hoặc bỏ biến {ENV_VAR} "
        "để dùng bộ từ vựng có sẵn.",
    )


def _json_type(value: Any) -> str:
    """The JSON name of a value's type, for messages about a file the user wrote."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _show(value: Any) -> str:
    """A value as the file writes it, cut short for a message."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _read_json(path: Path) -> dict[str, Any]:
    """The top-level object of a JSON file; every fault is a ConfigError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise _error(path, "the file does not exist", "không tìm thấy tệp") from exc
    except UnicodeDecodeError as exc:
        raise _error(path, "the file is not UTF-8 text", "tệp không phải văn bản UTF-8") from exc
    except OSError as exc:
        raise _error(
            path,
            f"the file cannot be read ({exc.strerror or exc})",
            f"không đọc được tệp ({exc.strerror or exc})",
        ) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _error(
            path,
            f"not valid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})",
            f"không phải JSON hợp lệ ở dòng {exc.lineno}, cột {exc.colno} ({exc.msg})",
        ) from exc
    if not isinstance(data, dict):
        raise _error(
            path,
            f"the top level must be a JSON object with sections, not a {_json_type(data)}",
            f"cấp ngoài cùng phải là một đối tượng JSON (object) gồm các mục, không phải "
            f"{_json_type(data)}",
        )
    return data


def _text(path: Path, where: str, value: Any) -> str:
    """A non-empty string in NFC (the form every compared string uses)."""
    if not isinstance(value, str) or not value.strip():
        raise _error(
            path,
            f"{where} must be a non-empty string, got {_show(value)}",
            f"{where} phải là một chuỗi không rỗng, nhận được {_show(value)}",
        )
    return unicodedata.normalize("NFC", value.strip())


def _parse(path: Path, data: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Checked sections of one file, and whether it extends the seed."""
    extends = data.get("extends", False)
    if not isinstance(extends, bool):
        raise _error(
            path,
            f'"extends" must be true or false, got {_show(extends)}',
            f'"extends" phải là true hoặc false, nhận được {_show(extends)}',
        )
    sections = {k: v for k, v in data.items() if k != "extends" and not k.startswith("_")}
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        valid = ", ".join(SECTIONS)
        raise _error(
            path,
            f"unknown section(s) {', '.join(unknown)}; valid sections: {valid}, extends "
            "(keys starting with '_' are notes)",
            f"mục không hợp lệ: {', '.join(unknown)}; các mục hợp lệ: {valid}, extends "
            "(khóa bắt đầu bằng '_' là ghi chú)",
        )
    out: dict[str, Any] = {}
    for name, value in sections.items():
        if name in _DICT_SECTIONS:
            if not isinstance(value, dict):
                raise _error(
                    path,
                    f'section "{name}" must be an object of "text": "text" pairs, got a '
                    f"{_json_type(value)}",
                    f'mục "{name}" phải là một đối tượng gồm các cặp "chuỗi": "chuỗi", nhận '
                    f"được {_json_type(value)}",
                )
            out[name] = {
                _text(path, f'a key in "{name}"', k): _text(path, f'"{name}"."{k}"', v)
                for k, v in value.items()
            }
        else:
            if not isinstance(value, list):
                raise _error(
                    path,
                    f'section "{name}" must be a list of strings, got a {_json_type(value)}',
                    f'mục "{name}" phải là một danh sách chuỗi, nhận được {_json_type(value)}',
                )
            items = [_text(path, f'an entry of "{name}"', v) for v in value]
            out[name] = list(dict.fromkeys(items))
    _check_name_kinds(path, out.get("back_reference_names", {}))
    return out, extends


NAME_KINDS = ("place", "body", "person")


def _check_name_kinds(path: Path, names: dict[str, str]) -> None:
    """Each back reference a name can follow says how that name is written."""
    for head, kind in names.items():
        if kind not in NAME_KINDS:
            raise _error(
                path,
                f'"back_reference_names"."{head}" is {_show(kind)}; use one of {", ".join(NAME_KINDS)}',
                f'"back_reference_names"."{head}" là {_show(kind)}; hãy dùng một trong '
                f"{', '.join(NAME_KINDS)}",
            )


def _merge(base: Lexicon, extra: dict[str, Any]) -> Lexicon:
    """``base`` with ``extra`` over it: dict keys override or add, lists append new items."""
    merged: dict[str, Any] = {}
    for f in fields(Lexicon):
        old = getattr(base, f.name)
        new = extra.get(f.name)
        if new is None:
            merged[f.name] = old.copy()
        elif isinstance(old, dict):
            merged[f.name] = {**old, **new}
        else:
            merged[f.name] = list(dict.fromkeys([*old, *new]))
    return Lexicon(**merged)


def _load(path: Path | None) -> Lexicon:
    """The seed, or the file at ``path`` over it (extends) or instead of it (replaces)."""
    seed_path = default_path()
    seed = Lexicon(**_parse(seed_path, _read_json(seed_path))[0])
    if path is None:
        return seed
    sections, extends = _parse(path, _read_json(path))
    return _merge(seed, sections) if extends else Lexicon(**sections)


def load_lexicon(path: str | os.PathLike[str] | None = None) -> Lexicon:
    """The lexicon of ``path`` (else ``$HOIDAP_LEXICON``, else the seed), checked.

    Raises :class:`~index.errors.ConfigError` naming the file and the fault.
    """
    chosen = path if path is not None else (os.environ.get(ENV_VAR) or None)
    return _load(Path(chosen).expanduser() if chosen is not None else None)


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    """The lexicon in use (``$HOIDAP_LEXICON`` or the seed), loaded once per process.

    Cached because :func:`index.normalize.match_form` reads it on every call; after changing
    the variable or the file, call :func:`reset_lexicon_cache`. Treat the result as
    read-only: it is shared by every caller.
    """
    return load_lexicon()


def reset_lexicon_cache() -> None:
    """Forget the loaded lexicon, so the next :func:`lexicon` reads ``$HOIDAP_LEXICON`` again."""
    lexicon.cache_clear()


def per_lexicon(build: Callable[[Lexicon], T]) -> Callable[[], T]:
    """Decorator: ``build(lexicon())``, rebuilt only when the lexicon in use changes.

    For tables and regexes derived from the lexicon: consumers read them at call time, so
    after :func:`reset_lexicon_cache` a new lexicon takes effect without reimporting them.
    """
    box: list[tuple[Lexicon, T]] = []

    @wraps(build)
    def get() -> T:
        lex = lexicon()
        state = box[0] if box else None
        if state is None or state[0] is not lex:
            state = (lex, build(lex))
            box[:] = [state]
        return state[1]

    return get


def alternation(words: Iterable[str]) -> str:
    """``words`` escaped and joined with ``|`` for a regex group, as given (order matters);
    with no words, a pattern that matches nothing (an empty group would match everywhere)."""
    escaped = [re.escape(w) for w in words]
    return "|".join(escaped) if escaped else "(?!)"
