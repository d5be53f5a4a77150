"""Plain formatting for the chat UI: answer text, the sources panel, chat history.

Kept free of Gradio so it can be unit-tested and reused by other front ends. Every
string that comes from an article (passage, quote, title, file name) is escaped here:
the chat renders Markdown and the sources panel renders HTML.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from typing import Any

from assistant.answering.answer import Answer, Citation
from index.errors import HoidapError
from index.lexicon import lexicon


def example_questions() -> list[str]:
    """The UI's example questions: the lexicon's "examples" (one is typed without accents on
    purpose, since users often type that way)."""
    return list(lexicon().examples)


def __getattr__(name: str) -> Any:
    """``EXAMPLE_QUESTIONS``, kept as a name; it follows the lexicon in use."""
    if name == "EXAMPLE_QUESTIONS":
        return example_questions()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


SOURCES_MARK = "**Nguồn:**"
NOTICE_MARK = "*"  # an italic line; body text never starts with a bare "*" (escaped)
SOURCES_PLACEHOLDER = (
    '<div class="hoidap-sources-empty">Nguồn trích dẫn sẽ hiện ở đây sau khi có câu trả lời.</div>'
)
SOURCES_SEARCHING = '<div class="hoidap-sources-empty">Đang tìm trong các bài viết…</div>'
SOURCES_NONE = (
    '<div class="hoidap-sources-empty">Câu trả lời này không trích dẫn bài viết nào.</div>'
)
UNEXPECTED_ERROR = (
    "Lỗi ngoài dự kiến khi trả lời; hãy thử lại, nếu vẫn lỗi hãy xem nhật ký máy chủ. "
    "(Unexpected error while answering; try again, or check the server log.)"
)

# Markdown/HTML punctuation that could turn article text into formatting or markup.
_MD_SPECIAL = re.compile(r"([\\`*_~<>|])")
_MD_LINK_OPEN = re.compile(r"\]\(")
_MD_LINE_START = re.compile(r"(?m)^(\s*)([#+\-=]|\d+\.(?=\s|$))")
_MD_UNESCAPE = re.compile(r"\\([\\`*_~<>|(#+\-=.])")


def escape_markdown(text: str) -> str:
    """Make article text display literally in a Markdown chat bubble."""
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _MD_LINK_OPEN.sub(r"]\\(", text)
    return _MD_LINE_START.sub(lambda m: m.group(1) + _escape_line_start(m.group(2)), text)


def _escape_line_start(token: str) -> str:
    return token[:-1] + "\\." if token.endswith(".") else "\\" + token


def unescape_markdown(text: str) -> str:
    """Inverse of :func:`escape_markdown` (used when chat bubbles become history)."""
    return _MD_UNESCAPE.sub(r"\1", text)


def format_date(date: str | None) -> str:
    """ISO ``YYYY-MM-DD`` → Vietnamese ``DD/MM/YYYY``; anything else is shown as given."""
    if not date:
        return "không rõ ngày"
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", date.strip())
    return f"{m.group(3)}/{m.group(2)}/{m.group(1)}" if m else date


def format_partial(text: str) -> str:
    """A streamed, unfinished answer as it should appear in the chat bubble."""
    return escape_markdown(text)


def source_anchor(turn: int, n: int) -> str:
    """The id of citation ``n``'s card for the answer at chat position ``turn``."""
    return f"hoidap-src-{int(turn)}-{int(n)}"


_MARKER_RE = re.compile(r"\[(\d{1,3})\]")
_MARKER_LINK_RE = re.compile(r"\[\\\[(\d{1,3})\\\]\]\(#hoidap-src-\d+-\d+\)")


def _link_markers(body: str, answer: Answer, turn: int) -> str:
    """Each ``[n]`` of a citation becomes a link to its card in the sources panel."""
    cited = {int(c.n) for c in answer.citations}

    def link(m: re.Match) -> str:
        n = int(m.group(1))
        return f"[\\[{n}\\]](#{source_anchor(turn, n)})" if n in cited else m.group(0)

    return _MARKER_RE.sub(link, body)


def format_answer(answer: Answer, turn: int | None = None) -> str:
    """The final chat bubble: answer text, a short sources line and the notice in italics.

    With ``turn`` (the bubble's position in the chat), the markers link to their cards."""
    body = escape_markdown(answer.answer.strip())
    if turn is not None and not answer.refused:
        body = _link_markers(body, answer, turn)
    blocks = [body]
    if answer.citations and not answer.refused:
        refs = "; ".join(
            f"[{c.n}] {escape_markdown(citation_title(c))}"
            + (f" ({format_date(c.date)})" if c.date else "")
            for c in answer.citations
        )
        blocks.append(f"{SOURCES_MARK} {refs}")
    if answer.notice:
        blocks.append(f"{NOTICE_MARK}{escape_markdown(answer.notice.strip())}*")
    return "\n\n".join(blocks)


def strip_decoration(content: str) -> str:
    """Drop the sources/notice lines :func:`format_answer` appended, and its marker links;
    unescape the rest."""
    blocks = _MARKER_LINK_RE.sub(r"[\1]", content).split("\n\n")
    while len(blocks) > 1 and blocks[-1].lstrip().startswith((SOURCES_MARK, NOTICE_MARK)):
        blocks.pop()
    return unescape_markdown("\n\n".join(blocks)).strip()


def _message_text(content: Any) -> str:
    """Text of a Gradio message's content: a string, a text part, or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, Mapping):
        return content.get("text", "") if content.get("type", "text") == "text" else ""
    if isinstance(content, Iterable):
        return "\n".join(t for t in (_message_text(part) for part in content) if t)
    return ""


def to_assistant_history(messages: Iterable[Any] | None) -> list[dict]:
    """Gradio chat messages → the assistant's ``[{"role", "content"}]`` turns.

    Accepts dicts or objects with ``role``/``content`` (Gradio 6 hands content over as a
    list of ``{"type": "text", "text": ...}`` parts). Non-text parts, system messages and
    empty bubbles are skipped; assistant bubbles lose their sources/notice lines. Both
    roles are unescaped, since the UI shows every bubble through :func:`escape_markdown`.
    """
    turns: list[dict] = []
    for msg in messages or []:
        if isinstance(msg, Mapping):
            role, content = msg.get("role"), msg.get("content")
        else:
            role, content = getattr(msg, "role", None), getattr(msg, "content", None)
        if role not in ("user", "assistant"):
            continue
        text = _message_text(content)
        text = strip_decoration(text) if role == "assistant" else unescape_markdown(text).strip()
        if text:
            turns.append({"role": role, "content": text})
    return turns


def _highlight(passage: str, quote: str) -> tuple[str, bool]:
    """Escaped passage with the quote wrapped in ``<mark>``; False when it is not in it."""
    quote = quote.strip()
    if not quote:
        return html.escape(passage), False
    start = passage.find(quote)
    end = start + len(quote)
    if start < 0:  # tolerate whitespace differences (line breaks inside the passage)
        pattern = r"\s+".join(re.escape(w) for w in quote.split())
        m = re.search(pattern, passage)
        if not m:
            return html.escape(passage), False
        start, end = m.start(), m.end()
    return (
        html.escape(passage[:start])
        + '<mark class="hoidap-quote">'
        + html.escape(passage[start:end])
        + "</mark>"
        + html.escape(passage[end:])
    ), True


UNTITLED = "Bài viết không có tiêu đề"


def citation_title(c: Citation) -> str:
    """The article's own title; never its file name, which says nothing to a reader."""
    return c.title.strip() or UNTITLED


def _citation_meta(c: Citation) -> str:
    """Publication date (dd/mm/yyyy) and, for a web article, a link to the original."""
    meta = [f"Ngày đăng: {html.escape(format_date(c.date))}"] if c.date else []
    if c.url and re.match(r"https?://", c.url):
        meta.append(
            f'<a class="hoidap-source-link" href="{html.escape(c.url, quote=True)}" '
            'target="_blank" rel="noopener noreferrer">Xem bài gốc</a>'
        )
    return f'<div class="hoidap-source-meta">{" · ".join(meta)}</div>' if meta else ""


def render_citation(c: Citation, turn: int | None = None) -> str:
    """One cited passage as an HTML card (number, title, date, link, highlighted quote)."""
    body, found = _highlight(c.text, c.quote)
    title = html.escape(citation_title(c))
    anchor = f' id="{source_anchor(turn, c.n)}"' if turn is not None else ""
    parts = [
        f'<article class="hoidap-source"{anchor} data-n="{int(c.n)}">',
        f'<div class="hoidap-source-head"><span class="hoidap-source-n">[{int(c.n)}]</span> '
        f'<span class="hoidap-source-title">{title}</span></div>',
        _citation_meta(c),
    ]
    if not found and c.quote.strip():
        parts.append(
            '<div class="hoidap-source-quote">Trích dẫn: '
            f'<mark class="hoidap-quote">{html.escape(c.quote.strip())}</mark></div>'
        )
    parts.append(f'<blockquote class="hoidap-source-text">{body}</blockquote>')
    parts.append("</article>")
    return "".join(parts)


def render_sources(answer: Answer | None, turn: int | None = None) -> str:
    """The sources panel for one answer (placeholder when there is none)."""
    if answer is None:
        return SOURCES_PLACEHOLDER
    if answer.refused or not answer.citations:
        return SOURCES_NONE
    cards = "".join(render_citation(c, turn) for c in answer.citations)
    return f'<div class="hoidap-sources">{cards}</div>'


def render_conversation_sources(answers: list[tuple[int, Answer]]) -> str:
    """The sources of every answer of the conversation, the latest first, each under its
    question, so a marker of an earlier answer still finds its card."""
    shown = [(turn, a) for turn, a in answers if a.citations and not a.refused]
    if not shown:
        return SOURCES_NONE if answers else SOURCES_PLACEHOLDER
    groups = []
    for turn, answer in reversed(shown):
        cards = "".join(render_citation(c, turn) for c in answer.citations)
        question = html.escape(answer.question)
        groups.append(
            f'<section class="hoidap-sources-turn" data-turn="{int(turn)}">'
            f'<div class="hoidap-sources-question">{question}</div>{cards}</section>'
        )
    return f'<div class="hoidap-sources">{"".join(groups)}</div>'


def error_message(exc: BaseException) -> str:
    """What the user sees for an error: the Vietnamese message, never a traceback."""
    if isinstance(exc, HoidapError):
        return f"Lỗi: {exc.message_vi}"
    return UNEXPECTED_ERROR


def rating_from_like(liked: Any) -> int | None:
    """Gradio's like payload → +1 / -1, or None when the user took the vote back."""
    if liked is True or liked == "Like":
        return 1
    if liked is False or liked == "Dislike":
        return -1
    return None
