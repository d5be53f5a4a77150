"""The native API: health, readiness, ``POST /v1/ask``, ``POST /v1/chat`` (SSE), models."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from assistant.web.api.context import MODEL_ID, ApiContext
from assistant.web.api.errors import ApiError, public_error
from assistant.web.api.event_stream import EventStreamResponse
from assistant.web.api.openapi import API_ERRORS, KEY_HEADERS
from assistant.web.api.schemas import (
    AnswerOut,
    AskRequest,
    ChatRequest,
    FeedbackOut,
    FeedbackRequest,
    Health,
    ModelList,
    Ready,
    Turn,
)

log = logging.getLogger(__name__)

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_STARTED = int(time.time())


def sse(event: str, data: dict) -> str:
    """One Server-Sent Event; ``json.dumps`` keeps the data on a single line."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def split_chat(messages: list[Turn]) -> tuple[str, list[Turn]]:
    """The last message is the question; everything before it is history."""
    if not messages or messages[-1].role != "user":
        raise ApiError(
            422,
            "last_message_not_user",
            "messages must end with a message whose role is 'user' (the question).",
            "Danh sách messages phải kết thúc bằng một tin nhắn có role 'user' (câu hỏi).",
        )
    return messages[-1].content, messages[:-1]


async def chat_events(ctx: ApiContext, first: dict, gen: Iterator[dict]) -> AsyncIterator[str]:
    """token… [reset] … final; a failure after the stream started becomes an ``error`` event.

    The events come checked: citations verified sentence by sentence and the leak guard
    applied inside the assistant (:meth:`assistant.answering.assistant.Assistant.stream`).
    """
    try:
        async for event in _chain(first, ctx.runner.rest(gen)):
            kind = event["type"]
            if kind == "final":
                yield sse("final", event["answer"].to_json())
            elif kind == "reset":
                yield sse("reset", {})
            elif kind == "token":
                yield sse("token", {"text": event.get("text", "")})
    except Exception as exc:  # the detail goes to the log under the id the client sees
        yield sse("error", public_error(exc).to_json())


async def _chain(first: dict, rest: AsyncIterator[dict]) -> AsyncIterator[dict]:
    yield first
    async for event in rest:
        yield event


def build_router(ctx: ApiContext) -> APIRouter:
    """Every native route, registered by the groups below."""
    router = APIRouter()
    for add in (_health_routes, _question_routes, _model_and_feedback_routes, _gaps_route):
        add(router, ctx)
    return router


def _health_routes(router: APIRouter, ctx: ApiContext) -> None:
    @router.get("/healthz", response_model=Health, tags=["health"], summary="Liveness")
    async def healthz() -> dict:
        return {"ok": True}

    @router.get(
        "/readyz",
        response_model=Ready,
        tags=["health"],
        summary="Readiness: index loaded, store reachable",
        responses={503: {"model": Ready, "description": "Not ready"}},
    )
    async def readyz() -> JSONResponse:
        state = await ctx.runner.ready()
        body = {
            "ok": bool(state.get("ok")),
            "chunks": int(state.get("chunks") or 0),
            "error": state.get("error"),
        }
        return JSONResponse(body, status_code=200 if body["ok"] else 503)


def _question_routes(router: APIRouter, ctx: ApiContext) -> None:
    @router.post(
        "/v1/ask",
        response_model=AnswerOut,
        responses=API_ERRORS,
        dependencies=KEY_HEADERS,
        tags=["ask"],
        summary="Answer one question (the same object as `hoidap ask --json`)",
    )
    async def ask(request: Request, body: AskRequest) -> JSONResponse:
        who = ctx.authorizer.authorize(request, "/v1/ask", body.key, ctx.cost(body.question))
        history = ctx.check_history(body.history)
        answer = await ctx.runner.ask(body.question, history, who.owner)
        return JSONResponse(answer.to_json())

    @router.post(
        "/v1/chat",
        responses={
            200: {
                "description": "Server-Sent Events: `token` {text}…, optional `reset` {}, then "
                "`final` (the /v1/ask object) or `error` {error}.",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
            **API_ERRORS,
        },
        dependencies=KEY_HEADERS,
        response_class=StreamingResponse,
        tags=["ask"],
        summary="Conversation turn, streamed as Server-Sent Events",
    )
    async def chat(request: Request, body: ChatRequest) -> StreamingResponse:
        cost = ctx.cost(ctx.last_message(body.messages))
        who = ctx.authorizer.authorize(request, "/v1/chat", body.key, cost)
        question, earlier = split_chat(body.messages)
        history = ctx.check_history(earlier)
        ctx.runner.assistant.validate(question)
        first, gen = await ctx.runner.open_stream(question, history, who.owner)
        return EventStreamResponse(
            chat_events(ctx, first, gen), headers=SSE_HEADERS, on_disconnect=gen.cancel.set
        )


def _model_and_feedback_routes(router: APIRouter, ctx: ApiContext) -> None:
    @router.get(
        "/v1/models",
        response_model=ModelList,
        responses=API_ERRORS,
        dependencies=KEY_HEADERS,
        tags=["openai"],
    )
    async def models(request: Request) -> dict:
        ctx.authorizer.authorize(request, "/v1/models")
        return {
            "object": "list",
            "data": [
                {"id": MODEL_ID, "object": "model", "created": _STARTED, "owned_by": "hoidap"}
            ],
        }

    @router.post(
        "/v1/feedback",
        response_model=FeedbackOut,
        responses=API_ERRORS,
        dependencies=KEY_HEADERS,
        tags=["widget"],
        summary="A vote on one answer (stored with the UI's votes)",
    )
    async def feedback(request: Request, body: FeedbackRequest) -> dict:
        ctx.authorizer.authorize(request, "/v1/feedback", body.key)
        from assistant.web.feedback import FeedbackStore

        store = FeedbackStore.for_settings(ctx.settings)
        row = await ctx.runner.call(
            lambda: store.record(
                body.question,
                body.answer,
                body.citations,
                body.rating,
                body.reason,
                mode="widget",
                refused=body.refused,
            )
        )
        return {"ok": True, "id": row}


def _gaps_route(router: APIRouter, ctx: ApiContext) -> None:
    @router.get(
        "/v1/admin/gaps",
        response_model=dict,
        responses={
            200: {
                "description": "`{groups: [...]}`, or with `format=jsonl` one QA eval case "
                "per line (`hoidap report gaps --export`).",
                "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
            },
            **API_ERRORS,
        },
        dependencies=KEY_HEADERS,
        tags=["admin"],
        summary="Unanswered questions, grouped (for editors)",
    )
    async def gaps(
        request: Request,
        fmt: Literal["json", "jsonl"] = Query(
            "json", alias="format", description="`jsonl`: QA JSONL eval cases for `hoidap eval`"
        ),
    ) -> dict | Response:
        """The questions refused or voted down, grouped by similarity, most frequent first
        (``hoidap report gaps``). Admin API keys, or the operator's login-link session."""
        who = ctx.authorizer.authorize(request, "/v1/admin/gaps")
        if who.kind not in ("admin", "owner"):
            raise ApiError(
                403,
                "admin_only",
                "The gaps report needs an admin API key (`hoidap keys create-admin`).",
                "Báo cáo câu hỏi chưa trả lời cần khóa API quản trị (`hoidap keys create-admin`).",
            )
        from assistant.web.gaps import report, to_cases

        groups = await ctx.runner.call(report, ctx.settings)
        if fmt == "jsonl":  # the admin page's export button; same lines as --export writes
            lines = [json.dumps(case, ensure_ascii=False) + "\n" for case in to_cases(groups)]
            return Response(
                "".join(lines),
                media_type="application/x-ndjson",
                headers={
                    "Content-Disposition": 'attachment; filename="hoidap-gaps.jsonl"',
                    "Cache-Control": "no-store",
                },
            )
        return {"groups": [g.to_json() for g in groups]}
