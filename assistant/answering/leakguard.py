"""Last line of defence against prompt injection, on the way out of the assistant.

The prompts tell the model never to repeat its instructions, and citation checks drop
sentences without a valid citation; but a model can still be talked into quoting its
instructions. This guard refuses any answer that contains a run of ``N_GRAM``
consecutive syllables from the shipped prompt templates (compared accent-free, so
"ban la tro ly hoi dap" is caught too), a run of ``N_GRAM_TRANSLATED`` words from their
known translations (``prompts/translations``; a translation by the model matches them
word for word less often than a quotation, so the run is shorter), a
configured secret, or anything shaped like a key.

It runs inside :meth:`assistant.answering.assistant.Assistant.stream`, so every entry point (API,
OpenAI-compatible route, SSE, the chat UI, the widget, the CLI) passes it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources

from assistant.answering.answer import REFUSAL_TEXT, Answer
from index.normalize import fold, match_form, syllables

N_GRAM = 8
N_GRAM_TRANSLATED = 6
_TEMPLATE_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_KEY_SHAPES = re.compile(r"hdsk_[0-9a-f]{10}_[A-Za-z0-9_-]{8,}|\bsk-[A-Za-z0-9_-]{16,}")


def _grams(text: str, n: int = N_GRAM) -> set[tuple[str, ...]]:
    words = [fold(match_form(s)) for s in syllables(text)]
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


@lru_cache(maxsize=1)
def prompt_grams() -> dict[int, frozenset[tuple[str, ...]]]:
    """Accent-free n-grams of every prompt template's own words (template tags removed):
    ``N_GRAM`` long for the prompts, ``N_GRAM_TRANSLATED`` for their translations."""
    grams: dict[int, set] = {N_GRAM: set(), N_GRAM_TRANSLATED: set()}
    root = resources.files("prompts")
    for folder, n in ((root, N_GRAM), (root / "translations", N_GRAM_TRANSLATED)):
        for entry in folder.iterdir():
            if entry.is_file() and entry.name.endswith((".md", ".txt")):
                for part in _TEMPLATE_TAG.split(entry.read_text(encoding="utf-8")):
                    grams[n] |= _grams(part, n)
    return {n: frozenset(g) for n, g in grams.items()}


class LeakGuard:
    def __init__(self, secrets: list[str] | None = None):
        self.secrets = [s for s in (secrets or []) if len(s) >= 8]

    def leaks(self, text: str) -> bool:
        """Does ``text`` quote the instructions or show something key-like?"""
        if not text:
            return False
        if _KEY_SHAPES.search(text) or any(s in text for s in self.secrets):
            return True
        return any(not grams.isdisjoint(_grams(text, n)) for n, grams in prompt_grams().items())

    def check(self, answer: Answer) -> Answer:
        """The answer, or a refusal (no citations) when it leaks."""
        if answer.refused or not self.leaks(answer.answer):
            return answer
        return refusal(answer)

    def watch(self, events: Iterator[dict]) -> Iterator[dict]:
        """Pass a stream of answer events through; once the text streamed so far leaks,
        reset it, show the refusal instead, relay no more text, and refuse the final
        answer."""
        streamed, tripped = "", False
        for event in events:
            kind = event["type"]
            if kind == "final":
                answer = event["answer"]
                yield {**event, "answer": refusal(answer) if tripped else self.check(answer)}
            elif tripped:
                continue
            elif kind == "reset":
                streamed = ""
                yield event
            elif kind != "token":
                yield event
            else:
                streamed += event.get("text", "")
                if self.leaks(streamed):
                    tripped = True
                    yield {"type": "reset", "text": ""}
                    yield {"type": "token", "text": REFUSAL_TEXT}
                else:
                    yield event


def refusal(answer: Answer) -> Answer:
    """``answer`` turned into the standard refusal (same question, timing and retrieval)."""
    return dataclasses.replace(answer, answer=REFUSAL_TEXT, refused=True, citations=[], notice=None)
