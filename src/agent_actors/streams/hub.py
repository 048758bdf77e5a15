"""The side channel that carries a reply's tokens from ResponseAgent to the streaming route.

Actor calls are request/response, so tokens cannot travel back through daprd while the turn
runs. The route registers a queue under a fresh stream id and passes the id down in the actor
request (ChatAgent -> ResponseAgent); the responder, running in this same process, pushes
events into it. This works because the app runs as one process per sidecar (see
docs/architecture.md) and placement activates actors in the app whose sidecar is asked. When
the responder finds no queue (the actor lives in another replica, or the listener left), it
simply does not stream: the turn still commits, and the route sends the committed reply as
one chunk.

With a turn log (``turn_log.py``, on with the relay's Redis), every event is first written to
its turn's log, numbered, and handed on only then (``log_writer.py``): the route gets each
event with its turn's seq and position, which become the SSE id a client reconnects with. A
long turn's run streams too, under a ``WATCH`` stream id: into the log alone, where
``GET /chat/{id}/turns/{seq}/stream`` reads it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from agent_actors.streams.log_writer import LogWriter, Written
from agent_actors.streams.relay import RedisRelay
from agent_actors.streams.turn_log import TurnEvents

EventKind = Literal["token", "reset"]
# The stream id prefix of a run nobody holds a live stream of (a long turn): only its log.
WATCH = "watch:"


@dataclass(frozen=True)
class StreamEvent:
    kind: EventKind
    text: str = ""
    # The turn and the event's position in its stream (0: not numbered, no log).
    seq: int = 0
    pos: int = 0


class StreamTarget(Protocol):
    """Where a reply's events go: a stream id (None: nobody listens), and the turn they
    belong to (the thread's actor id and the seq). ``ReplyRequest`` is one."""

    @property
    def stream_id(self) -> str | None: ...

    @property
    def user_id(self) -> str: ...

    @property
    def seq(self) -> int: ...


class StreamHub:
    """Where the streaming route and the responder meet: in this process, or (with a relay)
    across replicas. One per app: ``create_app`` makes it (``app.state.streams``) and hands
    it to the responder."""

    def __init__(self) -> None:
        self._queues: dict[str, asyncio.Queue[StreamEvent]] = {}
        self._relay: RedisRelay | None = None
        self._log: TurnEvents | None = None
        self._writer: LogWriter | None = None

    @property
    def log(self) -> TurnEvents | None:
        """The turn log, for readers (None: not kept)."""
        return self._log

    async def start_log(self, log: TurnEvents, outbox_max: int = 10_000) -> None:
        self._log = log
        self._writer = LogWriter(log, self._from_writer, outbox_max)
        self._writer.start()

    async def stop_log(self) -> None:
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        if self._log is not None:
            await self._log.aclose()
            self._log = None

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

    def token(self, to: StreamTarget, text: str) -> None:
        self._put(to, "token", text)

    def reset(self, to: StreamTarget) -> None:
        """The tokens sent so far are not the reply (the model turned to a tool, or a request
        was retried): listeners drop them."""
        self._put(to, "reset", "")

    def listening(self, to: StreamTarget) -> bool:
        """Whether to stream: a listener here, or maybe in another replica (with a relay), or
        a reader of the turn's log (with a log)."""
        stream_id = to.stream_id
        if stream_id is None:
            return False
        if self._writer is not None:
            return True
        if stream_id.startswith(WATCH):
            return False
        return stream_id in self._queues or self._relay is not None

    async def settle(self, to: StreamTarget) -> None:
        """Once the events sent so far are in the log (bounded): a reader that sees the turn
        committed finds all of them there."""
        if self._writer is not None and to.stream_id is not None:
            await self._writer.settle()

    def _put(self, to: StreamTarget, kind: EventKind, text: str) -> None:
        stream_id = to.stream_id
        if stream_id is None:
            return
        if self._writer is not None:
            self._writer.put(stream_id, to.user_id, to.seq, kind, text)
        else:
            self._hand_on(stream_id, StreamEvent(kind, text, to.seq))

    def _from_writer(self, written: Written) -> None:
        e = written.event
        self._hand_on(written.stream_id, StreamEvent(e.kind, e.text, e.seq, e.pos))

    def _hand_on(self, stream_id: str, event: StreamEvent) -> None:
        queue = self._queues.get(stream_id)
        if queue is not None:
            queue.put_nowait(event)
        elif self._relay is not None and not stream_id.startswith(WATCH):
            data = {"kind": event.kind, "text": event.text, "seq": event.seq, "pos": event.pos}
            self._relay.send(stream_id, data)

    def _from_relay(self, stream_id: str, data: dict[str, Any]) -> None:
        queue = self._queues.get(stream_id)
        kind = data.get("kind")
        if queue is not None and kind in ("token", "reset"):
            queue.put_nowait(
                StreamEvent(
                    "token" if kind == "token" else "reset",
                    str(data.get("text", "")),
                    int(data.get("seq") or 0),
                    int(data.get("pos") or 0),
                )
            )
