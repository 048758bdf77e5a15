"""The side channel that carries a reply's tokens from ResponseAgent to the streaming route.

Actor calls are request/response, so tokens cannot travel back through daprd while the turn
runs. The route registers a queue under a fresh stream id and passes the id down in the actor
request (ChatAgent -> ResponseAgent); the responder, running in this same process, pushes
events into it. This works because the app runs as one process per sidecar (see
docs/architecture.md) and placement activates actors in the app whose sidecar is asked. When
the responder finds no queue (the actor lives in another replica, or the listener left), it
simply does not stream: the turn still commits, and the route sends the committed reply as
one chunk.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

EventKind = Literal["token", "reset"]


@dataclass(frozen=True)
class StreamEvent:
    kind: EventKind
    text: str = ""


class StreamHub:
    def __init__(self) -> None:
        self._queues: dict[str, asyncio.Queue[StreamEvent]] = {}

    def open(self, stream_id: str) -> asyncio.Queue[StreamEvent]:
        queue: asyncio.Queue[StreamEvent] = asyncio.Queue()
        self._queues[stream_id] = queue
        return queue

    def close(self, stream_id: str) -> None:
        self._queues.pop(stream_id, None)

    def token(self, stream_id: str | None, text: str) -> None:
        self._put(stream_id, StreamEvent("token", text))

    def reset(self, stream_id: str | None) -> None:
        """The tokens sent so far are not the reply (the model turned to a tool, or a request
        was retried): listeners drop them."""
        self._put(stream_id, StreamEvent("reset"))

    def listening(self, stream_id: str | None) -> bool:
        return stream_id is not None and stream_id in self._queues

    def _put(self, stream_id: str | None, event: StreamEvent) -> None:
        queue = self._queues.get(stream_id) if stream_id else None
        if queue is not None:
            queue.put_nowait(event)


# One hub per process: the streaming route and the responder meet here.
STREAMS = StreamHub()
