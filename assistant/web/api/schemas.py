"""Request and response bodies (pydantic), which also make up the OpenAPI schema.

Size limits that depend on configuration (question length, turns) are checked in the
routes so the limit and the message follow the running settings.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Turn(BaseModel):
    """One earlier turn of the conversation."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: str


class AskRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"question": "Thủ tướng giao Bộ Tài chính nhiệm vụ gì?"}]},
    )
    question: str = Field(description="The question, in Vietnamese (at most max_question_chars).")
    history: list[Turn] = Field(default_factory=list, description="Earlier turns, oldest first.")
    key: str | None = Field(
        default=None, description="Public widget key (alternative to X-Hoidap-Key)."
    )


class ChatRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "messages": [
                        {"role": "user", "content": "Thủ tướng giao Bộ Tài chính nhiệm vụ gì?"}
                    ]
                }
            ]
        },
    )
    messages: list[Turn] = Field(
        description="The conversation; the last message is the user's question."
    )
    key: str | None = Field(
        default=None, description="Public widget key (alternative to X-Hoidap-Key)."
    )


class CitationOut(BaseModel):
    n: int
    source: str = Field(description="The article's identifier (file name or web address).")
    title: str
    date: str | None = Field(
        description="Publication date, YYYY-MM-DD, when the article states one."
    )
    chunk_id: str
    text: str
    quote: str
    url: str | None = Field(
        default=None, description="The original article's address, for articles from the web."
    )


class AnswerOut(BaseModel):
    """The same object as ``hoidap ask --json``."""

    question: str
    answer: str
    refused: bool
    citations: list[CitationOut]
    mode: str
    latency_ms: float
    standalone_question: str
    notice: str | None


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. question_too_long.")
    message: str = Field(description="Vietnamese message for the user.")
    message_en: str = Field(description="English message for the integrator.")


class ErrorOut(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    ok: bool


class Ready(BaseModel):
    ok: bool
    chunks: int
    error: str | None


class WidgetConfig(BaseModel):
    ok: bool
    title: str
    greeting: str
    max_question_chars: int


# -- OpenAI-compatible chat completions ------------------------------------------------------


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class OpenAIMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        if not self.content:
            return ""
        return "".join(p.text or "" for p in self.content if p.type in ("text", "input_text"))


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI chat request; sampling parameters are accepted and ignored."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "model": "hoidap",
                    "messages": [
                        {"role": "user", "content": "Thủ tướng giao Bộ Tài chính nhiệm vụ gì?"}
                    ],
                }
            ]
        },
    )
    model: str = "hoidap"
    messages: list[OpenAIMessage]
    stream: bool = False
    stream_options: StreamOptions | None = None


class ChatMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChoiceOut(BaseModel):
    index: int
    message: ChatMessageOut
    finish_reason: str


class UsageOut(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletionOut(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChoiceOut]
    usage: UsageOut
    citations: list[CitationOut] = Field(description="hoidap extra: the passages cited as [n].")
    hoidap: dict[str, Any] = Field(
        description="hoidap extra: refused, mode, notice, standalone_question."
    )


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


class FeedbackRequest(BaseModel):
    """A visitor's vote on one answer (the widget's «Hữu ích» / «Chưa đúng» buttons)."""

    model_config = ConfigDict(extra="forbid")
    question: str = Field(max_length=20_000, description="The question that was answered.")
    answer: str = Field(max_length=20_000, description="The answer text as shown.")
    citations: list[dict] = Field(default_factory=list, max_length=20, description="Its citations.")
    refused: bool = Field(default=False, description="The answer was a refusal.")
    rating: int = Field(description="+1 (helpful) or -1 (not right).")
    reason: str | None = Field(default=None, max_length=1000)
    key: str | None = Field(default=None, description="Public widget key (or X-Hoidap-Key).")


class FeedbackOut(BaseModel):
    ok: bool
    id: int
