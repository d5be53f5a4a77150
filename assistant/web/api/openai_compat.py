"""``POST /v1/chat/completions``: hoidap as an OpenAI-compatible "model".

* Client ``system``/``developer``/``tool`` messages are ignored: the assistant keeps its
  own instructions, so a client cannot rewrite them (nor ask for them back).
* The reply text carries the ``[n]`` markers and a «Nguồn:» list; the structured
  citations ride along in the extra ``citations`` field (and ``hoidap`` for refused/mode).
* Streaming sends the final, checked text (citations verified, leak guard applied) in
  word chunks: an OpenAI client cannot take text back, so it must never see a marker
  the server later drops. In extractive mode the whole answer exists before the first
  token anyway; with an LLM the widget's ``/v1/chat`` is the live-streaming path.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from assistant.answering.answer import Answer
from assistant.answering.plain_text import plain_text
from assistant.web.api.context import MODEL_ID, ApiContext
from assistant.web.api.errors import ApiError, public_error
from assistant.web.api.event_stream import EventStreamResponse
from assistant.web.api.openapi import API_ERRORS, KEY_HEADERS
from assistant.web.api.routes import SSE_HEADERS, split_chat
from assistant.web.api.schemas import ChatCompletionOut, ChatCompletionRequest, Turn
from assistant.web.ui_format import format_date
from index.tokens import count_tokens

log = logging.getLogger(__name__)

_CONVERSATION_ROLES = {"user", "assistant"}


def to_turns(request: ChatCompletionRequest) -> list[Turn]:
    """User/assistant messages as turns; other roles are dropped (see module doc)."""
    turns = [
        Turn(role=m.role, content=m.text())
        for m in request.messages
        if m.role in _CONVERSATION_ROLES
    ]
    if not turns:
        raise ApiError(
            422,
            "no_user_message",
            "messages must contain a 'user' message (the question).",
            "Danh sách messages phải có một tin nhắn 'user' (câu hỏi).",
        )
    return turns


def sources_footer(answer: Answer) -> str:
    if not answer.citations:
        return ""
    lines = [
        f"[{c.n}] {plain_text(c.title)}"
        + (f" ({format_date(c.date)})" if c.date else "")
        + (f" {plain_text(c.url)}" if c.url and c.url.startswith(("https://", "http://")) else "")
        for c in answer.citations
    ]
    return "\n\nNguồn:\n" + "\n".join(lines)


def reply_text(answer: Answer) -> str:
    prefix = f"({answer.notice})\n\n" if answer.notice else ""
    return prefix + answer.answer + sources_footer(answer)


def extras(answer: Answer) -> dict:
    data = answer.to_json()
    return {
        "citations": data["citations"],
        "hoidap": {
            k: data[k] for k in ("refused", "mode", "notice", "standalone_question", "latency_ms")
        },
    }


def usage(turns: list[Turn], text: str) -> dict:
    prompt = sum(count_tokens(t.content) for t in turns)
    completion = count_tokens(text)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class _Chunks:
    """Builds ``chat.completion.chunk`` SSE lines for one response."""

    def __init__(self) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())

    def line(self, delta: dict, finish: str | None = None, **extra) -> str:
        body = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": MODEL_ID,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    def usage_line(self, usage_body: dict) -> str:
        body = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": MODEL_ID,
            "choices": [],
            "usage": usage_body,
        }
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


async def completion_stream(
    ctx: ApiContext, first: dict, gen: Iterator[dict], turns: list[Turn], include_usage: bool
) -> AsyncIterator[str]:
    """Chunks of the checked final text (see module doc), then the extras, usage, [DONE]."""
    chunks = _Chunks()
    yield chunks.line({"role": "assistant", "content": ""})
    answer: Answer | None = None
    try:
        if first["type"] == "final":
            answer = first["answer"]
        async for event in ctx.runner.rest(gen):
            if event["type"] == "final":
                answer = event["answer"]
    except Exception as exc:  # the detail goes to the log under the id the client sees
        yield f"data: {json.dumps(public_error(exc).to_json(), ensure_ascii=False)}\n\n"
        return
    if answer is None:  # pragma: no cover - the assistant always ends with a final event
        return
    words = reply_text(answer).split(" ")
    for i, word in enumerate(words):
        yield chunks.line({"content": word if i == 0 else " " + word})
    yield chunks.line({}, "stop", **extras(answer))
    if include_usage:
        yield chunks.usage_line(usage(turns, reply_text(answer)))
    yield "data: [DONE]\n\n"


def build_openai_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter()

    @router.post(
        "/v1/chat/completions",
        response_model=ChatCompletionOut,
        responses={
            200: {
                "description": "A chat.completion object, or with stream=true chat.completion.chunk events.",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
            **API_ERRORS,
        },
        dependencies=KEY_HEADERS,
        tags=["openai"],
        summary="OpenAI-compatible chat completions (model 'hoidap')",
    )
    async def chat_completions(request: Request, body: ChatCompletionRequest) -> Response:
        cost = ctx.cost(ctx.last_message(body.messages))
        who = ctx.authorizer.authorize(request, "/v1/chat/completions", None, cost)
        turns = to_turns(body)
        question, earlier = split_chat(turns)
        history = ctx.check_history(earlier)
        ctx.runner.assistant.validate(question)
        if body.stream:
            first, gen = await ctx.runner.open_stream(question, history, who.owner)
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return EventStreamResponse(
                completion_stream(ctx, first, gen, turns, include_usage),
                headers=SSE_HEADERS,
                on_disconnect=gen.cancel.set,
            )
        answer = await ctx.runner.ask(question, history, who.owner)  # leak-guarded inside
        text = reply_text(answer)
        chunks = _Chunks()
        return JSONResponse(
            {
                "id": chunks.id,
                "object": "chat.completion",
                "created": chunks.created,
                "model": MODEL_ID,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage(turns, text),
                **extras(answer),
            }
        )

    return router
