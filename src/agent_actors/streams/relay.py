"""Carries a stream's token events between replicas, over Redis pub/sub.

With several app+sidecar pairs, the route holding a client's stream and the ResponseAgent
writing the reply can be in different processes. The route subscribes to the stream's channel
(``agent-actors:stream:<id>``) before the turn starts; the responder's process, finding no
local listener, publishes each event there. Redis is already in the stack (actor state and
pub/sub). Events are best effort, like the stream itself: the committed turn (the ``done``
event) is what a client keeps. One subscriber connection and one publisher per process; the
publisher sends events in order.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from agent_actors import metrics

log = logging.getLogger(__name__)
PREFIX = "agent-actors:stream:"
Deliver = Callable[[str, dict[str, Any]], None]


class RedisRelay:
    def __init__(self, url: str, deliver: Deliver, outbox_max: int = 10_000) -> None:
        self._redis = aioredis.from_url(url)
        self._deliver = deliver
        self._pubsub = self._redis.pubsub()
        self._subscribed: dict[str, asyncio.Event] = {}
        # Bounded: while Redis is slow or down, every streaming turn of the process keeps
        # adding tokens, and an unbounded queue would hold them all.
        self._outbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue(outbox_max)
        self._dropping = False
        # Streams that lost an event since their last reset (see send), oldest first; bounded
        # like the outbox (a stream that ended in a spell of drops is never heard of again).
        self._holed: dict[str, None] = {}
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def waiting(self) -> int:
        """Events not yet published."""
        return self._outbox.qsize()

    async def start(self) -> None:
        # A channel must exist before the reader can listen: a placeholder one keeps it busy.
        await self._pubsub.subscribe(PREFIX + "-")
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._send())]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        await self._redis.aclose()

    async def listen(self, stream_id: str, timeout_s: float = 2.0) -> None:
        """Subscribe to a stream's channel; returns once Redis confirmed it (or after
        ``timeout_s``: the stream then falls back to the whole reply at the end)."""
        ready = self._subscribed.setdefault(stream_id, asyncio.Event())
        await self._pubsub.subscribe(PREFIX + stream_id)
        try:
            await asyncio.wait_for(ready.wait(), timeout_s)
        except TimeoutError:
            log.warning("stream %s: the relay's subscription was not confirmed", stream_id)

    async def forget(self, stream_id: str) -> None:
        self._subscribed.pop(stream_id, None)
        try:
            await self._pubsub.unsubscribe(PREFIX + stream_id)
        except Exception as exc:  # the connection is gone: nothing is left to forget
            log.debug("stream %s: unsubscribe failed: %r", stream_id, exc)

    def send(self, stream_id: str, event: dict[str, Any]) -> None:
        """Queue an event for publishing; dropped (and counted) when the outbox is full: a
        stream is best effort, and its client still gets the committed reply (``done``).

        A stream that lost an event has a hole: a lost ``token`` would leave text out, a lost
        ``reset`` would let a retried attempt's tokens follow the failed one's. So once one of
        its events is dropped, the rest are dropped too until there is room for a ``reset``
        ahead of the next one: the client drops what it has and keeps what follows whole.
        """
        channel = PREFIX + stream_id
        if stream_id in self._holed:
            if self._outbox.maxsize - self._outbox.qsize() < 2:
                self._dropped()
                return
            del self._holed[stream_id]
            self._outbox.put_nowait((channel, json.dumps({"kind": "reset", "text": ""})))
        try:
            self._outbox.put_nowait((channel, json.dumps(event)))
        except asyncio.QueueFull:
            self._holed[stream_id] = None
            if len(self._holed) > self._outbox.maxsize:
                del self._holed[next(iter(self._holed))]
            self._dropped()
            return
        self._dropping = False

    def _dropped(self) -> None:
        metrics.STREAM_RELAY_DROPPED.inc()
        if not self._dropping:  # once per spell of drops, not once per token
            self._dropping = True
            log.warning(
                "stream relay: %d events wait for Redis; dropping new ones",
                self._outbox.maxsize,
            )

    async def _send(self) -> None:
        while True:
            channel, data = await self._outbox.get()
            try:
                await self._redis.publish(channel, data)
            except Exception as exc:
                log.warning("stream relay: could not publish to %s: %r", channel, exc)

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except Exception as exc:
                log.warning("stream relay: reading failed, retrying: %r", exc)
                await asyncio.sleep(0.5)
                continue
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message["channel"].decode()
        stream_id = channel.removeprefix(PREFIX)
        if message["type"] == "subscribe":
            if (ready := self._subscribed.get(stream_id)) is not None:
                ready.set()
        elif message["type"] == "message":
            self._deliver(stream_id, json.loads(message["data"]))
