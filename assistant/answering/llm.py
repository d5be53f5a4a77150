"""The LLM answering path: any OpenAI-compatible chat endpoint through LangChain's ``ChatOpenAI``.

The model only phrases the answer; grounding is enforced around it. It sees the
retrieved passages inside escaped ``<passage>`` delimiters with a system prompt that
treats them as data, and whatever it writes goes through server-side citation checks
(:func:`assistant.answering.citations.verify_citations`) in :class:`assistant.answering.assistant.Assistant`.

Every failure (connection refused, timeout, HTTP error, a response that is not JSON,
an empty answer) raises :class:`LLMError`, which the Assistant turns into the
extractive answer plus a notice. The API key lives only inside the client: it is
redacted from error messages and never shown by ``repr``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import SecretStr

from assistant.answering.answer import REFUSAL_TEXT
from assistant.answering.citations import MARKER_RE
from assistant.answering.followup import trim_history
from index.config import Settings
from index.errors import ConfigError, HoidapError
from index.types import ScoredChunk
from prompts import render

log = logging.getLogger(__name__)

NO_KEY = "no-key"  # local servers (vLLM, llama.cpp, Ollama) accept any bearer token
MAX_STANDALONE_CHARS = 1000
_WHAT_VI = {"condense": "viết lại câu hỏi", "answer": "trả lời"}


class LLMError(HoidapError):
    """The LLM endpoint did not produce a usable reply."""

    code = "llm_unavailable"
    http_status = 503


def _describe(exc: BaseException, timeout: float) -> tuple[str, str]:
    """A short English and Vietnamese description of what went wrong (no payloads, no keys)."""
    import httpx
    import openai

    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
        return (
            f"no reply within {timeout:g} s (HOIDAP_LLM_TIMEOUT)",
            f"không phản hồi trong {timeout:g} giây (HOIDAP_LLM_TIMEOUT)",
        )
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError):
        return (
            "cannot connect; is the server running?",
            "không kết nối được; máy chủ có đang chạy không?",
        )
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}", f"lỗi HTTP {exc.status_code}"
    if isinstance(exc, json.JSONDecodeError | openai.APIResponseValidationError):
        return "the reply is not valid JSON/SSE", "phản hồi không phải JSON/SSE hợp lệ"
    return f"{type(exc).__name__}: {exc}", f"{type(exc).__name__}: {exc}"


def _message_text(chunk: BaseMessage) -> str:
    content = chunk.content
    if isinstance(content, str):
        return content
    return "".join(
        part.get("text", "") if isinstance(part, dict) else str(part) for part in content or []
    )


def clean_standalone(text: str) -> str:
    """The rewritten question from a condense reply (first line, no label, no quotes)."""
    for line in text.strip().splitlines():
        line = re.sub(
            r"^\s*(?:câu hỏi độc lập|câu hỏi|standalone question)\s*:\s*", "", line, flags=re.I
        )
        line = line.strip().strip("\"'“”«»`").strip()
        if line:
            return line
    return ""


def passage_vars(passages: list[ScoredChunk]) -> list[dict]:
    """The numbered passages as the answer template renders them ([n] is 1-based)."""
    return [
        {
            "n": i,
            "source": p.chunk.source,
            "title": p.chunk.title,
            "date": p.chunk.date,
            "text": p.chunk.text,
        }
        for i, p in enumerate(passages, 1)
    ]


def history_messages(history: list[dict]) -> list[BaseMessage]:
    """Earlier turns as chat messages; old [n] markers are removed (they numbered other passages)."""
    out: list[BaseMessage] = []
    for turn in history:
        content = MARKER_RE.sub("", str(turn.get("content", ""))).strip()
        if not content:
            continue
        if turn.get("role") == "user":
            out.append(HumanMessage(content))
        elif turn.get("role") == "assistant":
            out.append(AIMessage(content))
    return out


class LLMAnswerer:
    """Condenses follow-ups and streams grounded answers from an OpenAI-compatible endpoint."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "",
        timeout: float = 30.0,
        *,
        idle_timeout: float = 10.0,
        stream_seconds: float = 120.0,
        max_retries: int = 1,
        memory_tokens: int = 1500,
        temperature: float | None = None,
    ):
        if urlsplit(base_url).scheme not in ("http", "https"):
            raise ConfigError(
                f"HOIDAP_LLM_BASE_URL must be an http(s) URL such as http://127.0.0.1:8000/v1, got {base_url!r}",
                f"HOIDAP_LLM_BASE_URL phải là URL http(s), ví dụ http://127.0.0.1:8000/v1; nhận được {base_url!r}",
            )
        if not model:
            raise ConfigError(
                "HOIDAP_LLM_BASE_URL is set but HOIDAP_LLM_MODEL is empty; set the model name the server serves.",
                "Đã đặt HOIDAP_LLM_BASE_URL nhưng HOIDAP_LLM_MODEL trống; hãy đặt tên mô hình mà máy chủ cung cấp.",
            )
        from langchain_openai import ChatOpenAI

        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout = float(timeout)
        self.idle_timeout = float(idle_timeout)
        self.stream_seconds = float(stream_seconds)
        self.memory_tokens = memory_tokens
        self._secret = SecretStr(api_key)  # kept only to redact it from error messages
        # Streaming is per call (``.stream``); ``.invoke`` stays a plain JSON request.
        # Answer streams get their own client whose read timeout is ``idle_timeout``: a
        # stalled server (no token for that long) ends the read, so the thread serving it
        # is freed instead of waiting out the whole timeout. The timeouts go as a (connect,
        # read, write, pool) tuple: the openai client takes that whichever httpx package it
        # is built on (openai 3 moved to httpx2, which rejects an ``httpx.Timeout``).

        def client(timeout):
            return ChatOpenAI(
                base_url=self.base_url,
                api_key=SecretStr(api_key or NO_KEY),
                model=model,
                timeout=timeout,
                max_retries=max_retries,
                temperature=temperature,
                use_responses_api=False,
            )

        self._chat = client(self.timeout)
        read = min(self.idle_timeout, self.timeout)
        self._stream_chat = client((self.timeout, read, self.timeout, self.timeout))

    @classmethod
    def from_settings(cls, settings: Settings) -> LLMAnswerer:
        return cls(
            settings.llm_base_url,
            settings.llm_model,
            settings.llm_api_key,
            settings.llm_timeout,
            idle_timeout=settings.llm_idle_timeout,
            stream_seconds=settings.llm_stream_seconds,
            memory_tokens=settings.memory_tokens,
        )

    def __repr__(self) -> str:
        return f"LLMAnswerer(base_url={self.base_url!r}, model={self.model!r}, timeout={self.timeout:g})"

    # -- prompts -------------------------------------------------------------------
    def condense_messages(self, question: str, history: list[dict]) -> list[BaseMessage]:
        turns = trim_history(list(history or []), self.memory_tokens)
        turns = [
            {"role": t.get("role"), "content": MARKER_RE.sub("", str(t.get("content", ""))).strip()}
            for t in turns
            if t.get("role") in ("user", "assistant")
        ]
        return [HumanMessage(render("condense", history=turns, question=question))]

    def answer_messages(
        self, question: str, passages: list[ScoredChunk], history: list[dict] | None = None
    ) -> list[BaseMessage]:
        system = render("system", refusal_text=REFUSAL_TEXT)
        user = render(
            "answer", question=question, passages=passage_vars(passages), refusal_text=REFUSAL_TEXT
        )
        turns = trim_history(list(history or []), self.memory_tokens)
        return [SystemMessage(system), *history_messages(turns), HumanMessage(user)]

    # -- calls ---------------------------------------------------------------------
    def _fail(self, what: str, exc: BaseException) -> LLMError:
        en, vi = _describe(exc, self.timeout)
        if what == "answer" and "HOIDAP_LLM_TIMEOUT" in en and self.idle_timeout < self.timeout:
            en = f"no token for {self.idle_timeout:g} s (HOIDAP_LLM_IDLE_TIMEOUT)"
            vi = f"không có phản hồi mới trong {self.idle_timeout:g} giây (HOIDAP_LLM_IDLE_TIMEOUT)"
        return LLMError(
            self._redact(f"LLM {what} at {self.base_url} (model {self.model}) failed: {en}"),
            self._redact(
                f"Mô hình ngôn ngữ tại {self.base_url} lỗi khi {_WHAT_VI.get(what, what)}: {vi}"
            ),
        )

    def _redact(self, text: str) -> str:
        secret = self._secret.get_secret_value()
        return text.replace(secret, "***") if secret else text

    def condense(self, question: str, history: list[dict]) -> str:
        """A standalone question for a follow-up, written by the model."""
        started = time.perf_counter()
        try:
            reply = self._chat.invoke(self.condense_messages(question, history))
        except Exception as exc:
            raise self._fail("condense", exc) from None
        standalone = clean_standalone(_message_text(reply))
        if not standalone or len(standalone) > MAX_STANDALONE_CHARS:
            raise LLMError(
                f"LLM condense at {self.base_url} returned an unusable question ({len(standalone)} chars).",
                "Mô hình ngôn ngữ trả về câu hỏi viết lại không dùng được.",
            )
        log.info(
            "condense: %r -> %r in %.0f ms",
            question,
            standalone,
            (time.perf_counter() - started) * 1000,
        )
        return standalone

    def stream_answer(
        self,
        question: str,
        passages: list[ScoredChunk],
        history: list[dict] | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        """Yield answer tokens as they arrive; raise :class:`LLMError` on any failure or empty answer.

        The stream stops (and its HTTP response is closed) when ``cancel`` is set (the
        client went away), when no token came for ``idle_timeout`` seconds, or after
        ``stream_seconds`` in all.
        """
        messages = self.answer_messages(question, passages, history)
        started = time.perf_counter()
        produced = False
        stream = self._stream_chat.stream(messages)
        try:
            for chunk in stream:
                if cancel is not None and cancel.is_set():
                    log.info("answer stream cancelled: the client went away")
                    return
                if time.perf_counter() - started > self.stream_seconds:
                    raise TimeoutError(f"the answer took over {self.stream_seconds:g} s")
                text = _message_text(chunk)
                if text:
                    produced = True
                    yield text
        except Exception as exc:
            raise self._fail("answer", exc) from None
        finally:
            stream.close()  # closes the HTTP response: the LLM server sees the client leave
        if not produced:
            raise LLMError(
                f"LLM answer at {self.base_url} (model {self.model}) was empty.",
                f"Mô hình ngôn ngữ tại {self.base_url} trả về câu trả lời rỗng.",
            )
        log.info(
            "answer: %d passages, %.0f ms", len(passages), (time.perf_counter() - started) * 1000
        )
