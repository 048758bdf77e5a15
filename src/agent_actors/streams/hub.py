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

from agent_actors.streams.relay import RedisRelay

EventKind = Literal["token", "reset"]


@dataclass(frozen=True)
class StreamEvent:
    kind: EventKind
    text: str = ""


class StreamHub:
    """Where the streaming route and the responder meet: in this process, or (with a relay)
    across replicas. One per app: ``create_app`` makes it (``app.state.streams``) and hands
    it to the responder."""

    def __init__(self) -> None:
        self._queues: dict[str, asyncio.Queue[StreamEvent]] = {}
        self._relay: RedisRelay | None = None

    async def start_relay(self, redis_url: str, outbox_max: int = 10_000) -> None:
        self._relay = RedisRelay(redis_url, self._from_relay, outbox_max)
        await self._relay.start()

    async def stop_relay(self) -> None:
        if self._relay is not None:
            await self._relay.close()
            self._relay = None

    async def open(self, stream_id: str) -> asyncio.Queue[StreamEvent]:
        queue: asyncio.Queue[StreamEvent] = asyncio.Queue()
        self._queues[stream_id] = queue
        if self._relay is not None:
            await self._relay.listen(stream_id)
        return queue

    async def close(self, stream_id: str) -> None:
        if self._queues.pop(stream_id, None) is not None and self._relay is not None:
            await self._relay.forget(stream_id)

    def token(self, stream_id: str | None, text: str) -> None:
        self._put(stream_id, StreamEvent("token", text))

    def reset(self, stream_id: str | None) -> None:
        """The tokens sent so far are not the reply (the model turned to a tool, or a request
        was retried): listeners drop them."""
        self._put(stream_id, StreamEvent("reset"))

    def listening(self, stream_id: str | None) -> bool:
        """Whether to stream: a listener here, or maybe in another replica (with a relay)."""
        if stream_id is None:
            return False
        return stream_id in self._queues or self._relay is not None

    def _put(self, stream_id: str | None, event: StreamEvent) -> None:
        if stream_id is None:
            return
        queue = self._queues.get(stream_id)
        if queue is not None:
            queue.put_nowait(event)
        elif self._relay is not None:
            self._relay.send(stream_id, {"kind": event.kind, "text": event.text})

    def _from_relay(self, stream_id: str, data: dict[str, str]) -> None:
        queue = self._queues.get(stream_id)
        kind = data.get("kind")
        if queue is not None and kind in ("token", "reset"):
            queue.put_nowait(
                StreamEvent("token" if kind == "token" else "reset", data.get("text", ""))
            )
