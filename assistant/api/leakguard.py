"""Last line of defence against prompt injection on the way out of the API.

The prompts tell the model never to repeat its instructions, and citation checks drop
markers for passages that were not retrieved; but a model can still be talked into
quoting its instructions in an uncited sentence. This guard refuses any answer that
contains a run of ``N_GRAM`` consecutive syllables from the shipped prompt templates,
or anything shaped like a key. Keys never enter the prompts (API keys stay in the HTTP
layer), so the key check is belt and braces.
"""

from __future__ import annotations

import dataclasses
import re
from functools import lru_cache
from importlib import resources

from assistant.answer import REFUSAL_TEXT, Answer
from index.normalize import match_form, syllables

N_GRAM = 8
_TEMPLATE_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
_KEY_SHAPES = re.compile(r"hdsk_[0-9a-f]{10}_[A-Za-z0-9_-]{8,}|\bsk-[A-Za-z0-9_-]{16,}")


def _grams(text: str) -> set[tuple[str, ...]]:
    words = [match_form(s) for s in syllables(text)]
    return {tuple(words[i : i + N_GRAM]) for i in range(len(words) - N_GRAM + 1)}


@lru_cache(maxsize=1)
def prompt_grams() -> frozenset[tuple[str, ...]]:
    """N-grams of every prompt template's own words (template variables removed)."""
    grams: set[tuple[str, ...]] = set()
    root = resources.files("prompts")
    for entry in root.iterdir():
        if entry.is_file() and entry.name.endswith((".md", ".txt")):
            for part in _TEMPLATE_TAG.split(entry.read_text(encoding="utf-8")):
                grams |= _grams(part)
    return frozenset(grams)


class LeakGuard:
    def __init__(self, secrets: list[str] | None = None):
        self.secrets = [s for s in (secrets or []) if len(s) >= 8]

    def leaks(self, text: str) -> bool:
        """Does ``text`` quote the instructions or show something key-like?"""
        if not text:
            return False
        if _KEY_SHAPES.search(text) or any(s in text for s in self.secrets):
            return True
        return not prompt_grams().isdisjoint(_grams(text))

    def check(self, answer: Answer) -> Answer:
        """The answer, or a refusal (no citations) when it leaks."""
        if answer.refused or not self.leaks(answer.answer):
            return answer
        return refusal(answer)


def refusal(answer: Answer) -> Answer:
    """``answer`` turned into the standard refusal (same question, timing and retrieval)."""
    return dataclasses.replace(answer, answer=REFUSAL_TEXT, refused=True, citations=[], notice=None)
