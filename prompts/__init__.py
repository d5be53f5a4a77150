"""Prompt templates kept as files (``prompts/*.md``) so they can be read and edited as text.

Templates are Jinja2 with strict rendering: a variable the template uses but the caller
did not pass is an error that names it, never a silently empty string. Two filters make
untrusted text safe to place inside the prompt's delimiters:

* ``data_escape`` — ``&``, ``<`` and ``>`` become entities, so a passage cannot close
  ``</passage>`` (or open any other tag) and escape its data section;
* ``attr_escape`` — the same plus ``"``, for values inside ``key="..."`` attributes.

Jinja2 never evaluates template syntax found inside variable values, so ``{{ ... }}``
in an article is inert text.
"""

from __future__ import annotations

from functools import cache, lru_cache
from importlib import resources

import jinja2
from jinja2 import meta

from index.errors import HoidapError

SUFFIXES = (".md", ".txt")


class PromptError(HoidapError):
    """A prompt template that does not exist, or is rendered without a variable it needs."""

    code = "prompt_error"
    http_status = 500


def data_escape(value: object) -> str:
    """Escape text placed between delimiters so it can never close them."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def attr_escape(value: object) -> str:
    """Escape text placed inside a double-quoted attribute value."""
    return data_escape(value).replace('"', "&quot;")


def _files() -> dict[str, str]:
    """Template name (file stem) -> file name, for every template shipped in this package."""
    root = resources.files(__name__)
    return {
        entry.name.rsplit(".", 1)[0]: entry.name
        for entry in root.iterdir()
        if entry.is_file() and entry.name.endswith(SUFFIXES)
    }


def available_prompts() -> list[str]:
    """The names ``load_prompt`` accepts, e.g. ``["answer", "condense", "system"]``."""
    return sorted(_files())


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # prompts are not HTML; untrusted text is escaped explicitly
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["data_escape"] = data_escape
    env.filters["attr_escape"] = attr_escape
    return env


@cache
def _source(name: str) -> tuple[str, frozenset[str]]:
    """The template text and the variables it needs from the caller."""
    files = _files()
    stem = name.rsplit(".", 1)[0] if name.endswith(SUFFIXES) else name
    if stem not in files:
        valid = ", ".join(sorted(files))
        raise PromptError(
            f"Unknown prompt template {name!r}; valid templates: {valid}.",
            f"Không có mẫu lời nhắc {name!r}; các mẫu hợp lệ: {valid}.",
        )
    text = resources.files(__name__).joinpath(files[stem]).read_text(encoding="utf-8")
    needed = meta.find_undeclared_variables(_environment().parse(text))
    return text, frozenset(needed)


def load_prompt(name: str) -> jinja2.Template:
    """The compiled template ``name`` (``"answer"`` or ``"answer.md"``)."""
    text, _ = _source(name)
    template = _environment().from_string(text)
    template.name = name
    return template


def required_variables(name: str) -> set[str]:
    """Variables ``render(name, ...)`` must be given."""
    return set(_source(name)[1])


def render(name: str, **variables: object) -> str:
    """Render template ``name``; a missing variable raises :class:`PromptError` naming it."""
    missing = sorted(required_variables(name) - set(variables))
    if missing:
        raise PromptError(
            f"Prompt template {name!r} needs variable(s) {missing}; pass them to render().",
            f"Mẫu lời nhắc {name!r} thiếu biến {missing}; hãy truyền vào render().",
        )
    try:
        return load_prompt(name).render(**variables).strip()
    except jinja2.UndefinedError as exc:  # e.g. a passage dict without "title"
        raise PromptError(
            f"Prompt template {name!r}: {exc.message}; pass the missing value to render().",
            f"Mẫu lời nhắc {name!r}: thiếu giá trị ({exc.message}); hãy truyền vào render().",
        ) from exc
