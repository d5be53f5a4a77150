"""A real OpenAI-compatible HTTP server on loopback with scripted replies.

It speaks the wire format real clients (the ``openai`` SDK, LangChain's ``ChatOpenAI``,
``httpx``) expect, so the LLM path is tested end to end without a model:

* ``POST /v1/chat/completions`` — plain JSON, or SSE (``data: {...}`` chunks then
  ``data: [DONE]``) when the request says ``"stream": true``;
* ``POST /v1/embeddings`` — deterministic unit vectors derived from the text.

Replies come from a queue (:meth:`OpenAIServer.script`); each one is a :class:`Reply`
whose ``kind`` is ``answer`` (the text, streamed word by word), ``slow`` (sleeps past
the client's timeout), ``error`` (HTTP 500), ``garbage`` (invalid JSON / broken SSE)
or ``empty`` (a completion with no content); a streamed ``garbage`` reply sends its
text first, so the stream breaks mid-answer. Every request is recorded, headers and
JSON body included, so tests can check exactly what the client sent.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KINDS = ("answer", "slow", "error", "garbage", "empty")


@dataclass
class Reply:
    """One scripted reply to one chat-completions request."""

    kind: str = "answer"
    text: str = ""
    delay: float = 0.0  # seconds to wait before answering (``slow`` uses it)
    token_delay: float = 0.0  # seconds between streamed tokens

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown reply kind {self.kind!r}; choose one of {KINDS}")


@dataclass
class Recorded:
    """A request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or the raw text when it was not JSON

    @property
    def messages(self) -> list[dict]:
        return list(self.body.get("messages", [])) if isinstance(self.body, dict) else []

    def message(self, role: str) -> str:
        """The content of the first message with ``role`` ("" when there is none)."""
        for m in self.messages:
            if m.get("role") == role:
                return str(m.get("content", ""))
        return ""

    @property
    def last_user(self) -> str:
        users = [m for m in self.messages if m.get("role") == "user"]
        return str(users[-1].get("content", "")) if users else ""


@dataclass
class _State:
    replies: deque = field(default_factory=deque)
    default: Reply = field(default_factory=lambda: Reply("error"))
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    aborted: int = 0  # streams whose client closed the connection before the end
    rules: list = field(default_factory=list)  # (text in the last user message, Reply)


def words(text: str) -> list[str]:
    """Split ``text`` into streamable tokens that join back to it exactly."""
    parts = text.split(" ")
    return [p if i == 0 else " " + p for i, p in enumerate(parts)]


def fake_embedding(text: str, dim: int) -> list[float]:
    """A deterministic unit vector for ``text`` (same text, same vector)."""
    raw = hashlib.sha256(text.encode("utf-8")).digest() * (dim // 32 + 1)
    vec = [b - 127.5 for b in raw[:dim]]
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


def _chunk(model: str, delta: dict, finish: str | None = None) -> str:
    """One ``chat.completion.chunk`` SSE payload."""
    return json.dumps(
        {
            "id": "chatcmpl-test",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        },
        ensure_ascii=False,
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Keep test output quiet."""

    # -- plumbing ------------------------------------------------------------------
    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            return raw

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"))

    def _sse_start(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def _sse(self, payload: str) -> None:
        self.wfile.write(f"data: {payload}\n\n".encode())
        self.wfile.flush()

    # -- routes --------------------------------------------------------------------
    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        body = self._read_body()
        state = self.server.state
        with state.lock:
            state.requests.append(Recorded("POST", self.path, dict(self.headers.items()), body))
        try:
            if self.path.rstrip("/").endswith("/chat/completions"):
                self._chat(body)
            elif self.path.rstrip("/").endswith("/embeddings"):
                self._embeddings(body)
            else:
                self._send_json(404, {"error": {"message": f"no route {self.path}"}})
        except (BrokenPipeError, ConnectionResetError):
            with state.lock:  # the client gave up (timeout, cancel): nothing left to tell it
                state.aborted += 1

    def _next_reply(self, body: Any) -> Reply:
        state = self.server.state
        last = Recorded("POST", "", {}, body).last_user
        with state.lock:
            for text, reply in state.rules:
                if text in last:
                    return reply
            return state.replies.popleft() if state.replies else state.default

    def _chat(self, body: Any) -> None:
        reply = self._next_reply(body)
        if reply.delay or reply.kind == "slow":
            self.server.state.stopping.wait(reply.delay or 30.0)
        stream = isinstance(body, dict) and bool(body.get("stream"))
        model = body.get("model", "test-model") if isinstance(body, dict) else "test-model"
        if reply.kind == "error":
            self._send_json(500, {"error": {"message": "internal error", "type": "server_error"}})
        elif reply.kind == "garbage":
            self._garbage(stream, model, reply.text)
        elif stream:
            self._stream(model, "" if reply.kind == "empty" else reply.text, reply.token_delay)
        else:
            self._complete(model, "" if reply.kind == "empty" else reply.text)

    def _garbage(self, stream: bool, model: str, text: str) -> None:
        """Invalid JSON; when streaming, ``text`` streams first so the break comes mid-answer."""
        if not stream:
            self._send(200, b"<html>not json {", "application/json")
            return
        self._sse_start()
        for token in words(text) if text else []:
            self._sse(_chunk(model, {"content": token}))
        self._sse("{this is not json")
        self._sse("[DONE]")

    def _complete(self, model: str, text: str) -> None:
        self._send_json(
            200,
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
        )

    def _stream(self, model: str, text: str, token_delay: float = 0.0) -> None:
        self._sse_start()
        self._sse(_chunk(model, {"role": "assistant", "content": ""}))
        for token in words(text) if text else []:
            if token_delay:
                self.server.state.stopping.wait(token_delay)
            self._sse(_chunk(model, {"content": token}))
        self._sse(_chunk(model, {}, "stop"))
        self._sse("[DONE]")

    def _embeddings(self, body: Any) -> None:
        if not isinstance(body, dict) or "input" not in body:
            self._send_json(400, {"error": {"message": "expected a JSON body with 'input'"}})
            return
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        dim = self.server.embedding_dim
        self._send_json(
            200,
            {
                "object": "list",
                "model": body.get("model", "test-embed"),
                "data": [
                    {"object": "embedding", "index": i, "embedding": fake_embedding(str(t), dim)}
                    for i, t in enumerate(texts)
                ],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            },
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, embedding_dim: int):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = _State()
        self.embedding_dim = embedding_dim


class OpenAIServer:
    """Start with ``with OpenAIServer() as srv:``; ``srv.url`` is the ``/v1`` base URL."""

    def __init__(self, embedding_dim: int = 16):
        self._server = _Server(embedding_dim)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def requests(self) -> list[Recorded]:
        with self._server.state.lock:
            return list(self._server.state.requests)

    @property
    def aborted(self) -> int:
        """Streams the client closed before their end (a cancelled or timed-out read)."""
        with self._server.state.lock:
            return self._server.state.aborted

    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.rstrip("/").endswith("/chat/completions")]

    def script(self, *replies: Reply | str) -> None:
        """Queue replies (a plain string is an ``answer``); later requests get the default."""
        with self._server.state.lock:
            for r in replies:
                self._server.state.replies.append(Reply("answer", r) if isinstance(r, str) else r)

    def when(self, text: str, reply: Reply) -> None:
        """Answer every request whose last user message contains ``text`` with ``reply``
        (concurrent clients cannot rely on the order of a script)."""
        with self._server.state.lock:
            self._server.state.rules.append((text, reply))

    def set_default(self, reply: Reply) -> None:
        """The reply once the queue is empty (an HTTP 500 unless changed)."""
        self._server.state.default = reply

    def reset(self) -> None:
        """Forget queued replies and recorded requests (between tests)."""
        with self._server.state.lock:
            self._server.state.replies.clear()
            self._server.state.requests.clear()
            self._server.state.default = Reply("error")
            self._server.state.rules.clear()

    def start(self) -> OpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.state.stopping.set()  # wakes handlers sleeping in "slow" mode
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
