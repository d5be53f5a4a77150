"""Runs the (synchronous) assistant from async routes without starving the event loop.

Question pipelines are CPU-bound (embedding, retrieval), so at most ``workers`` run at
once; the rest wait in line instead of thrashing two cores with dozens of threads.
"""

from __future__ import annotations

import asyncio
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


class AssistantRunner:
    def __init__(self, assistant: Assistant, workers: int):
        self.assistant = assistant
        self.workers = max(1, workers)
        # One limiter per event loop (test clients may start several loops in one process).
        self._limiters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _limiter(self) -> anyio.CapacityLimiter:
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            limiter = anyio.CapacityLimiter(self.workers)
            self._limiters[loop] = limiter
        return limiter

    async def call(self, fn, *args):
        """Run a blocking assistant call (validate, ready, ask) in the bounded pool."""
        return await to_thread.run_sync(fn, *args, limiter=self._limiter())

    async def ask(self, question: str, history: list[dict]) -> Answer:
        return await self.call(self.assistant.ask, question, history)

    async def open_stream(self, question: str, history: list[dict]) -> tuple[dict, Iterator[dict]]:
        """Start a stream and return its first event; errors (empty index…) raise here,
        before any response is sent, so they still get a proper status code."""
        gen = self.assistant.stream(question, history)
        first = await self.call(_next, gen)
        if first is _DONE:  # pragma: no cover - stream always ends with a final event
            raise RuntimeError("assistant stream ended without events")
        return first, gen

    async def rest(self, gen: Iterator[dict]) -> AsyncIterator[dict]:
        """The remaining events; retrieval is done, so these hops skip the bounded pool."""
        try:
            while True:
                event = await to_thread.run_sync(_next, gen)
                if event is _DONE:
                    return
                yield event
        finally:
            gen.close()
