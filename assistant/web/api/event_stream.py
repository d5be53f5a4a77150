"""Server-Sent Events responses that notice a client leaving while nothing is being sent.

Under ASGI 2.4 (uvicorn), Starlette's ``StreamingResponse`` learns that the client left
only when its next write fails. An LLM answer is sent sentence by sentence once each is
verified, so a stalled answer writes nothing for a long time: a client that dropped it
went unnoticed, and its stream kept its caller's share of the LLM pool until the LLM gave
up (measured: all of one key's shares held, every other request of that key waiting out
its 120 s timeout; ``bench/adversarial_load.py``). Here a task also waits for the
``http.disconnect`` message, and on it the answer is cancelled at once.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send


class EventStreamResponse(StreamingResponse):
    """``text/event-stream`` whose producer is cancelled as soon as the client leaves."""

    media_type = "text/event-stream"

    def __init__(self, content, *, on_disconnect: Callable[[], None] | None = None, **kwargs):
        super().__init__(content, **kwargs)
        self.on_disconnect = on_disconnect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:

            async def stream() -> None:
                try:
                    await self.stream_response(send)
                except OSError:  # the client left between two writes
                    self._left()
                group.cancel_scope.cancel()

            group.start_soon(stream)
            await self.listen_for_disconnect(receive)
            self._left()
            group.cancel_scope.cancel()

    def _left(self) -> None:
        if self.on_disconnect is not None:
            self.on_disconnect()
