"""Runs the (synchronous) assistant from async routes without starving the event loop.

Three separate thread pools, so one kind of work never waits behind another:

- question pipelines (embedding, retrieval) are CPU-bound: at most ``workers`` at once,
  the rest wait in line instead of thrashing two cores with dozens of threads;
- LLM answer streams mostly wait on the network: at most ``llm_streams`` at once, and a
  stalled one cannot take threads from the others (its read times out when idle);
- readiness checks (``/readyz``) have a pool of their own and never queue behind either.

When a client goes away, its stream is cancelled: the LLM connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import AsyncIterator, Iterator

import anyio
from anyio import to_thread

from assistant.answer import Answer
from assistant.pipeline import Assistant

_DONE = object()


def _next(gen: Iterator[dict]):
    try:
        return next(gen)
    except StopIteration:
        return _DONE


class _Stream:
    """An answer's event generator with the flag that cancels it."""

    def __init__(self, gen: Iterator[dict], cancel: threading.Event):
        self.gen, self.cancel = gen, cancel

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        return next(self.gen)

    def close(self) -> None:
        self.gen.close()


class AssistantRunner:
    def __init__(self, assistant: Assistant, workers: int, llm_streams: int = 8):
        self.assistant = assistant
        self.sizes = {"work": max(1, workers), "llm": max(1, llm_streams), "health": 2}
        # One limiter per event loop (test clients may start several loops in one process).
        self._limiters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @property
    def workers(self) -> int:
        return self.sizes["work"]

    def _limiter(self, pool: str = "work") -> anyio.CapacityLimiter:
        loop = asyncio.get_running_loop()
        limiters = self._limiters.get(loop)
        if limiters is None:
            limiters = {name: anyio.CapacityLimiter(n) for name, n in self.sizes.items()}
            self._limiters[loop] = limiters
        return limiters[pool]

    async def call(self, fn, *args):
        """Run a blocking assistant call (validate, ask) in the bounded pool."""
        return await to_thread.run_sync(fn, *args, limiter=self._limiter())

    async def ready(self) -> dict:
        """The assistant's readiness, from a pool no question work can fill."""
        return await to_thread.run_sync(self.assistant.ready, limiter=self._limiter("health"))

    async def ask(self, question: str, history: list[dict]) -> Answer:
        """The final answer; retrieval in the work pool, an LLM's answer in the LLM pool."""
        first, gen = await self.open_stream(question, history)
        answer = first.get("answer") if first["type"] == "final" else None
        async for event in self.rest(gen):
            if event["type"] == "final":
                answer = event["answer"]
        return answer

    async def open_stream(self, question: str, history: list[dict]) -> tuple[dict, Iterator[dict]]:
        """Start a stream and return its first event (retrieval is done then); errors
        (empty index…) raise here, before any response is sent, so they still get a
        proper status code."""
        cancel = threading.Event()
        gen = _Stream(self.assistant.stream(question, history, cancel), cancel)
        first = await self.call(_next, gen)
        if first is _DONE:  # pragma: no cover - stream always ends with a final event
            raise RuntimeError("assistant stream ended without events")
        return first, gen

    async def rest(self, gen: Iterator[dict]) -> AsyncIterator[dict]:
        """The remaining events (retrieval is done: what is left is the LLM's stream, or
        nothing), in the LLM pool; cancelled streams stop and close their connection."""
        cancel = getattr(gen, "cancel", None)
        try:
            while True:
                event = await to_thread.run_sync(_next, gen, limiter=self._limiter("llm"))
                if event is _DONE:
                    return
                yield event
        finally:
            if cancel is not None:
                cancel.set()  # a thread still reading the LLM stops at its next token
            with contextlib.suppress(ValueError):  # still running: the cancel flag ends it
                gen.close()
