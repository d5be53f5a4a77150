"""Name what an answer sentence's opening word refers back to: «Tỉnh sẽ …» → «Tỉnh Nam Định sẽ …».

A sentence cut out of an article loses the subject the article named before it. A
sentence opens with a back reference when one of the lexicon's ``back_references`` is
followed by one of its ``subject_followers`` («sẽ», «đã», «cho biết»…), not by the second
half of a word («Bộ trưởng», «Trường hợp») or a comma («Tỉnh, thành phố …»). When the
opener is one the article writes with a name after it (``back_reference_names``: «tỉnh
Nam Định», «Bộ Tài chính», «ông Vũ Trọng Quế»), the name is taken from the article's
title and text: for a person, the one named last before the sentence; for a place or
body, of the names the article writes after that word and names before the sentence,
the one it names most often (so «UBND tỉnh Trần Lê Đoài», a person's name after «tỉnh»,
does not win over «Nam Định», the province the article is about). The name comes from
the cited passage, so the sentence still passes the citation checks, and the citation
keeps the article's own sentence as its quote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from index.lexicon import Lexicon, alternation, per_lexicon
from index.types import Chunk

MAX_NAME_WORDS = 5
MAX_PLACE_WORDS = 3  # «Hồ Chí Minh», «Thừa Thiên Huế»
_NEXT_TOKEN_RE = re.compile(r"[ \t]+([^\W_][\w&]*(?:-[\w&]+)*)")
_CONNECTOR = "và"


@dataclass(frozen=True)
class Opening:
    """A sentence's opening back reference: the word as written and where the rest starts."""

    head: str
    end: int


@per_lexicon
def _opening_re(lex: Lexicon) -> re.Pattern:
    heads = alternation(sorted(lex.back_references, key=len, reverse=True))
    followers = alternation(sorted(lex.subject_followers, key=len, reverse=True))
    return re.compile(rf"^\s*({heads})(?=\s+(?:{followers})(?!\w))")


def opening_back_reference(sentence: str) -> Opening | None:
    """The back reference ``sentence`` opens with as its subject, if any."""
    m = _opening_re().match(sentence)
    return Opening(m.group(1), m.end(1)) if m else None


def _is_capitalised(token: str) -> bool:
    return token[0].isupper()


def _opens_word(token: str) -> bool:
    """A capitalised syllable that is not an abbreviation («Tài», not «TT&TT»)."""
    return _is_capitalised(token) and not (len(token) > 1 and token.isupper())


def _name_after(text: str, kind: str, heads: set[str]) -> str | None:
    """The proper name ``text`` starts with (after a space), written as ``kind`` names are:
    every syllable capitalised, or for a body, sentence case: a word's second syllable may
    be lower case («Tài chính», «Y tế») and words may be joined by «và» («Thông tin và
    Truyền thông»)."""
    words: list[str] = []
    pos = 0
    while len(words) < MAX_NAME_WORDS:
        m = _NEXT_TOKEN_RE.match(text, pos)
        if m is None:
            break
        token, last = m.group(1), words[-1] if words else None
        if (
            kind == "body"
            and token == _CONNECTOR
            and last is not None
            and not _is_capitalised(last)
        ):
            after = _NEXT_TOKEN_RE.match(text, m.end())
            if after is None or not _opens_word(after.group(1)) or after.group(1).lower() in heads:
                break
        elif not _is_capitalised(token) and not (
            kind == "body" and last is not None and _opens_word(last)
        ):
            break
        words.append(token)
        pos = m.end()
    return " ".join(words) or None


def _mentions(head: str, kind: str, text: str) -> list[tuple[int, str]]:
    """(position, name) of each place ``text`` writes ``head`` followed by a name."""
    heads = {h.lower() for h in _names()}
    found = []
    for m in re.finditer(rf"(?<!\w){re.escape(head)}(?!\w)", text, flags=re.IGNORECASE):
        name = _name_after(text[m.end() :], kind, heads)
        if name:
            found.append((m.start(), name))
    return found


def _shortest_forms(mentions: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Each name read as the shortest other mention it starts with: «tỉnh Nam Định Phạm
    Đình Nghị» (the province, then its chairman's name) is a mention of «Nam Định»."""
    names = {name for _, name in mentions}
    out = []
    for pos, name in mentions:
        shorter = [n for n in names if n != name and name.startswith(n + " ")]
        out.append((pos, min(shorter, key=len) if shorter else name))
    return out


def referent(head: str, before: str, title: str = "", after: str = "") -> str | None:
    """The name ``head`` refers to in a sentence between ``before`` and ``after`` (its
    article's text on either side) under ``title``: a person named last before it; the
    place or body, of those the article writes after ``head`` and names before the
    sentence, that it names most often."""
    kind = _kind(head)
    if kind is None:
        return None
    preceding = f"{title}\n{before}"
    if kind == "person":
        mentions = _mentions(head, kind, preceding)
        return mentions[-1][1] if mentions else None
    text = f"{preceding}\n{after}"
    here = len(preceding)
    distance: dict[str, int] = {}
    for pos, name in _shortest_forms(_mentions(head, kind, text)):
        # Named before the sentence too (with the word or without): a province the
        # article only turns to later is not the one this sentence refers back to.
        if _occurrences(name, preceding):
            distance[name] = min(distance.get(name, len(text)), abs(here - pos))
    if not distance:
        return None
    name = max(distance, key=lambda n: (_occurrences(n, text), -distance[n]))
    # A longer place name is more likely a place followed by a person's name.
    return name if kind != "place" or len(name.split()) <= MAX_PLACE_WORDS else None


def _occurrences(name: str, text: str) -> int:
    """How often ``text`` names ``name``, with or without the word before it («Nam Định»)."""
    return len(re.findall(rf"(?<!\w){re.escape(name)}(?!\w)", text))


def _kind(head: str) -> str | None:
    names = _names()
    return names.get(head) or names.get(head.capitalize())


@per_lexicon
def _names(lex: Lexicon) -> dict[str, str]:
    return dict(lex.back_reference_names)


def resolve_subject(sentence: str, before: str, title: str = "", after: str = "") -> str:
    """``sentence`` with its opening back reference named («Tỉnh Nam Định sẽ …»), or as it is."""
    opening = opening_back_reference(sentence)
    if opening is None:
        return sentence
    name = referent(opening.head, before, title, after)
    if name is None:
        return sentence
    return f"{sentence[: opening.end]} {name}{sentence[opening.end :]}"


def named_subject(sentence: str, chunk: Chunk) -> str:
    """``sentence``, quoted from ``chunk``, with its opening back reference named from the
    chunk's title and text."""
    at = chunk.text.find(sentence)
    if at < 0:
        return sentence
    after = chunk.text[at + len(sentence) :]
    return resolve_subject(sentence, chunk.text[:at], chunk.title or "", after)
