"""A turn's stream events kept in Redis, outside the process that writes them, so a client
that lost its connection gets the rest of the turn from any replica, even after the
replica that ran the turn died.

Key layout: one Redis stream per turn, ``agent-actors:turn-events:<thread>:<seq>`` (the
thread's actor id, ``<user>`` or ``<user>~<agent>``). Its entries have the ids ``0-<pos>``,
``pos`` = 1, 2, ... the event's position in the turn's stream, and the fields ``seq``,
``pos``, ``kind`` (``token`` or ``reset``) and ``text``: reading "after position p" is
``XREAD … 0-<p>``, and a position is never written twice (XADD refuses an id not above the
last). Each append trims the stream to about ``max_events`` and renews its TTL.

A client names an event by its SSE id, ``<seq>-<pos>`` (``event_id``). The final ``done``
is not logged: readers take it from the committed turn.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import redis.asyncio as aioredis

PREFIX = "agent-actors:turn-events:"
Kind = Literal["token", "reset"]
# Keys one UNLINK names when a conversation is erased.
FORGET_BATCH = 500
EVENT_ID = re.compile(r"([1-9][0-9]{0,17})-([0-9]{1,18})")


@dataclass(frozen=True)
class Logged:
    """One event of a turn's stream, as the log keeps it."""

    seq: int
    pos: int
    kind: Kind
    text: str = ""


def key(thread: str, seq: int) -> str:
    return f"{PREFIX}{thread}:{seq}"


def event_id(seq: int, pos: int) -> str:
    return f"{seq}-{pos}"


def parse_event_id(value: str) -> tuple[int, int] | None:
    """``"3-5"`` -> ``(3, 5)``: the turn and the position of the last event a client got;
    None for anything else."""
    found = EVENT_ID.fullmatch(value.strip())
    return None if found is None else (int(found.group(1)), int(found.group(2)))


def replayed_text(events: Sequence[Logged]) -> str:
    """The reply a client holds after ``events``: tokens appended, a ``reset`` drops them."""
    parts: list[str] = []
    for event in events:
        if event.kind == "reset":
            parts.clear()
        else:
            parts.append(event.text)
    return "".join(parts)


class TurnEvents(Protocol):
    """What writers and readers need of a log (``TurnLog`` on Redis; a twin in unit tests)."""

    async def last_pos(self, thread: str, seq: int) -> int: ...

    async def append(self, thread: str, seq: int, events: Sequence[Logged]) -> None: ...

    async def last_positions(self, runs: Sequence[tuple[str, int]]) -> list[int | Exception]: ...

    async def append_many(
        self, runs: Sequence[tuple[str, int, Sequence[Logged]]]
    ) -> list[Exception | None]: ...

    async def read(
        self, thread: str, seq: int, after: int, *, block_s: float | None = None
    ) -> list[Logged]: ...

    async def forget(self, thread: str, last_seq: int) -> None: ...

    async def aclose(self) -> None: ...


class TurnLog:
    """Reads and appends turns' events (one Redis client per app, shared by the writer and
    the routes that read)."""

    def __init__(
        self,
        url: str,
        max_events: int = 20_000,
        ttl_s: float = 3600.0,
        max_connections: int = 1000,
        wait_s: float = 10.0,
    ) -> None:
        # One connection per read in flight (a blocking XREAD holds its own, up to a second).
        # redis-py's default pool refused the read past its size (MaxConnectionsError: a
        # stream ended with its reply as one token); a blocking pool makes it wait for a
        # connection instead, so the pool can stay small enough that every replica's fits
        # under the Redis it shares with daprd (maxclients).
        self._pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=wait_s
        )
        self._redis = aioredis.Redis(connection_pool=self._pool)
        self._max_events = max_events
        self._ttl_ms = int(ttl_s * 1000)

    async def aclose(self) -> None:
        await self._redis.aclose()
        await self._pool.disconnect()

    async def last_pos(self, thread: str, seq: int) -> int:
        """The position of the turn's last logged event (0: none)."""
        newest: Any = await self._redis.xrevrange(key(thread, seq), count=1)
        return int(_pos_of(newest[0][0])) if newest else 0

    async def append(self, thread: str, seq: int, events: Sequence[Logged]) -> None:
        """Write ``events`` (their positions follow the log's last, in order) in one round
        trip; raises if Redis refused any (then none after it is known to be written)."""
        pipe = self._redis.pipeline(transaction=False)
        self._queue_append(pipe, key(thread, seq), events)
        await pipe.execute()

    async def last_positions(self, runs: Sequence[tuple[str, int]]) -> list[int | Exception]:
        """``last_pos`` of each (thread, seq), in one round trip: per run, the position or
        the error Redis answered (raises only when the round trip itself failed)."""
        pipe = self._redis.pipeline(transaction=False)
        for thread, seq in runs:
            pipe.xrevrange(key(thread, seq), count=1)
        newest: list[Any] = await pipe.execute(raise_on_error=False)
        return [
            got if isinstance(got, Exception) else int(_pos_of(got[0][0])) if got else 0
            for got in newest
        ]

    async def append_many(
        self, runs: Sequence[tuple[str, int, Sequence[Logged]]]
    ) -> list[Exception | None]:
        """``append`` for each (thread, seq, events), in one round trip: per run, None when
        Redis took all of its events, else the first error it answered (raises only when the
        round trip itself failed)."""
        pipe = self._redis.pipeline(transaction=False)
        for thread, seq, events in runs:
            self._queue_append(pipe, key(thread, seq), events)
        answers: list[Any] = await pipe.execute(raise_on_error=False)
        failures: list[Exception | None] = []
        at = 0
        for _thread, _seq, events in runs:
            mine, at = answers[at : at + len(events) + 1], at + len(events) + 1
            failures.append(next((a for a in mine if isinstance(a, Exception)), None))
        return failures

    def _queue_append(self, pipe: Any, name: str, events: Sequence[Logged]) -> None:
        for event in events:
            fields: dict[Any, Any] = {
                "seq": event.seq,
                "pos": event.pos,
                "kind": event.kind,
                "text": event.text,
            }
            pipe.xadd(name, fields, id=f"0-{event.pos}", maxlen=self._max_events, approximate=True)
        pipe.pexpire(name, self._ttl_ms)

    async def forget(self, thread: str, last_seq: int) -> None:
        """Erase the logs of the thread's turns 1 .. ``last_seq`` (the conversation is
        erased: its tokens go with it, not at their TTL)."""
        for start in range(1, last_seq + 1, FORGET_BATCH):
            names = [
                key(thread, s) for s in range(start, min(last_seq, start + FORGET_BATCH - 1) + 1)
            ]
            await self._redis.unlink(*names)

    async def read(
        self, thread: str, seq: int, after: int, *, block_s: float | None = None
    ) -> list[Logged]:
        """The events after position ``after``, oldest first; with ``block_s``, waits up to
        that long for one when there is none yet."""
        name = key(thread, seq)
        block = None if block_s is None else max(1, int(block_s * 1000))
        # (redis-py types a reply as RESP2 or RESP3; this client speaks RESP2: a list.)
        got: Any = await self._redis.xread(
            {name: f"0-{after}"}, count=self._max_events, block=block
        )
        entries = got[0][1] if got else []
        return [_logged(fields) for _id, fields in entries]


def _pos_of(entry_id: bytes | str) -> str:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return text.partition("-")[2]


def _logged(fields: dict[bytes, bytes]) -> Logged:
    kind = fields[b"kind"].decode()
    return Logged(
        seq=int(fields[b"seq"]),
        pos=int(fields[b"pos"]),
        kind="reset" if kind == "reset" else "token",
        text=fields.get(b"text", b"").decode(),
    )
