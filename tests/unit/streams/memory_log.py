"""The turn log's in-memory twin: the same reads and appends as ``TurnLog`` on Redis (ids
``0-<pos>`` strictly rising, a read after a position, a blocking read), without Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from agent_actors.streams.turn_log import Logged, key


class MemoryLog:
    def __init__(self) -> None:
        self.streams: dict[str, list[Logged]] = {}
        self.fail = False
        self._changed = asyncio.Condition()

    async def aclose(self) -> None:
        pass

    async def forget(self, thread: str, last_seq: int) -> None:
        for seq in range(1, last_seq + 1):
            self.streams.pop(key(thread, seq), None)

    def events(self, thread: str, seq: int) -> list[Logged]:
        return list(self.streams.get(key(thread, seq), []))

    async def last_pos(self, thread: str, seq: int) -> int:
        if self.fail:
            raise ConnectionError("redis is down")
        events = self.streams.get(key(thread, seq), [])
        return events[-1].pos if events else 0

    async def append(self, thread: str, seq: int, events: Sequence[Logged]) -> None:
        if self.fail:
            raise ConnectionError("redis is down")
        stream = self.streams.setdefault(key(thread, seq), [])
        for event in events:
            if stream and event.pos <= stream[-1].pos:
                raise ValueError("ERR The ID specified in XADD is equal or smaller")
            stream.append(event)
        async with self._changed:
            self._changed.notify_all()

    async def last_positions(self, runs: Sequence[tuple[str, int]]) -> list[int | Exception]:
        return [await self.last_pos(thread, seq) for thread, seq in runs]

    async def append_many(
        self, runs: Sequence[tuple[str, int, Sequence[Logged]]]
    ) -> list[Exception | None]:
        if self.fail:
            raise ConnectionError("redis is down")
        failures: list[Exception | None] = []
        for thread, seq, events in runs:
            try:
                await self.append(thread, seq, events)
            except ValueError as exc:
                failures.append(exc)
            else:
                failures.append(None)
        return failures

    async def read(
        self, thread: str, seq: int, after: int, *, block_s: float | None = None
    ) -> list[Logged]:
        if self.fail:
            raise ConnectionError("redis is down")
        got = [e for e in self.streams.get(key(thread, seq), []) if e.pos > after]
        if got or block_s is None:
            return got
        try:
            async with self._changed:
                await asyncio.wait_for(self._changed.wait(), block_s)
        except TimeoutError:
            return []
        return [e for e in self.streams.get(key(thread, seq), []) if e.pos > after]
