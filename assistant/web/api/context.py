"""What every route needs, built once per app by :func:`assistant.web.server.create_app`."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.web.api.auth import Authorizer
from assistant.web.api.config import ApiConfig
from assistant.web.api.errors import ApiError
from assistant.web.api.keys import KeyStore
from assistant.web.api.runner import AssistantRunner
from assistant.web.api.schemas import Turn
from assistant.web.api.sessions import LoginLink
from index.config import Settings

MODEL_ID = "hoidap"


@dataclass
class ApiContext:
    settings: Settings
    config: ApiConfig
    store: KeyStore
    authorizer: Authorizer
    runner: AssistantRunner
    login_link: LoginLink

    def cost(self, question: object) -> float:
        """Rate-limit units for a question (1 for a typical one, up to 3 for a long one)."""
        from assistant.answering.assistant import question_cost

        text = question if isinstance(question, str) else ""
        return question_cost(text, self.settings.max_query_words)

    def last_message(self, messages: list) -> object:
        """The content of the last message (the question), whatever its shape."""
        return getattr(messages[-1], "content", "") if messages else ""

    def check_history(self, turns: list[Turn]) -> list[dict]:
        """Enforce the turn limits; return plain ``{"role", "content"}`` dicts."""
        limit = self.config.max_turns
        if len(turns) > limit:
            raise ApiError(
                422,
                "too_many_turns",
                f"The conversation has {len(turns)} earlier turns; the limit is {limit}. Send only the latest ones.",
                f"Hội thoại có {len(turns)} lượt trước đó, vượt giới hạn {limit}. Hãy chỉ gửi các lượt gần nhất.",
            )
        max_chars = self.config.max_turn_chars
        for i, t in enumerate(turns):
            if len(t.content) > max_chars:
                raise ApiError(
                    422,
                    "turn_too_long",
                    f"Turn {i} is {len(t.content)} characters long; the limit is {max_chars}.",
                    f"Lượt hội thoại thứ {i} dài {len(t.content)} ký tự, vượt giới hạn {max_chars} ký tự.",
                )
        return [{"role": t.role, "content": t.content} for t in turns]
