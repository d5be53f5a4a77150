"""Runs the (synchronous) assistant from async routes without starving the event loop.

Three separate thread pools, so one kind of work never waits behind another:

- question pipelines (embedding, retrieval) are CPU-bound: at most ``workers`` at once,
  the rest wait in line instead of thrashing two cores with dozens of threads;
- LLM answer streams mostly wait on the network: at most ``llm_streams`` at once, and a
  stalled one cannot take threads from the others (its read times out when idle);
- readiness checks (``/readyz``) have a pool of their own and never queue behind either.

With an LLM, one caller (key, else address) holds at most ``streams_per_caller`` answer
streams at once (a quarter of the LLM pool by default, so no two callers hold it all); its
further questions wait behind its own, before any work, so a client that opens and drops
stalled streams cannot take the LLM pool from everyone else.

When a client goes away, its stream is cancelled: the LLM connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from collections.abc import AsyncIterator, Iterator

import anyio
from anyio import to_thread

from assistant.answering.answer import Answer
from assistant.answering.assistant import Assistant

_DONE = object()
log = logging.getLogger(__name__)
READY_PROBE = "chuyển đổi số"  # the question /readyz retrieves for


def _next(gen: Iterator[dict]):
    try:
        return next(gen)
    except StopIteration:
        return _DONE


def _release(box: list) -> None:
    release, box[0] = box[0], None
    if release is not None:
        release()


def _released_at_end(gen: Iterator[dict], box: list) -> Iterator[dict]:
    """``gen``'s events; the share in ``box`` is released when it ends, in its thread.
    (It holds only the box, not the _Stream: no reference cycle delays the release.)"""
    try:
        yield from gen
    finally:
        _release(box)


class _Stream:
    """An answer's event generator with the flag that cancels it.

    The caller's stream share is given back when the generator itself ends (in the
    thread that ran it), not when the client leaves: a cancelled stream still reading
    its LLM keeps counting against its caller until its thread lets go.
    """

    def __init__(self, gen: Iterator[dict], cancel: threading.Event, release=None):
        self.cancel = cancel
        self._box = [release]  # shared with the generator below, which must not hold self
        self.gen = _released_at_end(gen, self._box)

    def __del__(self) -> None:  # a response dropped before it streamed still gives its share back
        self.cancel.set()
        self.release()

    def release(self) -> None:
        """Give the caller's stream share back (once)."""
        _release(self._box)

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        return next(self.gen)

    def close(self) -> None:
        self.gen.close()


class AssistantRunner:
    def __init__(
        self,
        assistant: Assistant,
        workers: int,
        llm_streams: int = 8,
        streams_per_caller: int = 2,
    ):
        self.assistant = assistant
        self.sizes = {"work": max(1, workers), "llm": max(1, llm_streams), "health": 2}
        self.streams_per_caller = max(1, streams_per_caller)
        # Per event loop: caller -> a limiter of its answer-stream shares (LLM mode).
        self._shares: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
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
        """The assistant's readiness, from a pool no question work can fill: the store is
        reachable, holds chunks, and its vector index answers a query."""
        return await to_thread.run_sync(self._ready, limiter=self._limiter("health"))

    def _ready(self) -> dict:
        state = dict(self.assistant.ready())
        if not state.get("ok"):
            return state
        try:  # what a question does: a hybrid retrieval reading stored vectors
            if not self.assistant.retriever.retrieve(READY_PROBE, k=1):
                raise RuntimeError("retrieval returned nothing for the readiness probe")
        except Exception:  # incl. a store whose vector files are damaged
            log.exception("readiness: the vector index does not answer a query")
            return {**state, "ok": False, "error": "vector_index_unreadable"}
        return state

    async def ask(self, question: str, history: list[dict], caller: str = "") -> Answer:
        """The final answer; retrieval in the work pool, an LLM's answer in the LLM pool."""
        first, gen = await self.open_stream(question, history, caller)
        answer = first.get("answer") if first["type"] == "final" else None
        async for event in self.rest(gen):
            if event["type"] == "final":
                answer = event["answer"]
        return answer

    async def open_stream(
        self, question: str, history: list[dict], caller: str = ""
    ) -> tuple[dict, Iterator[dict]]:
        """Start a stream and return its first event (retrieval is done then); errors
        (empty index…) raise here, before any response is sent, so they still get a
        proper status code."""
        release = await self._take_stream(caller)
        cancel = threading.Event()
        gen = _Stream(self.assistant.stream(question, history, cancel), cancel, release)
        try:
            first = await self.call(_next, gen)
        except BaseException:
            gen.release()
            raise
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

    async def _take_stream(self, caller: str):
        """Wait for one of ``caller``'s answer-stream shares (LLM mode); return its release.

        A caller waits its turn behind its own streams only, so one caller (a client
        opening and dropping stalled streams) never holds more than its share of the LLM
        pool while others wait.
        """
        if self.assistant.llm is None or not caller:
            return None
        loop = asyncio.get_running_loop()
        shares = self._shares.setdefault(loop, {})
        limiter = shares.get(caller)
        if limiter is None:
            limiter = shares[caller] = anyio.CapacityLimiter(self.streams_per_caller)
        token = object()
        await limiter.acquire_on_behalf_of(token)

        def release() -> None:  # from any thread, also after the loop has closed
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(limiter.release_on_behalf_of, token)

        return release
