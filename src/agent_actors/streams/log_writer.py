"""Writes a turn's stream events to its log (``turn_log.py``) in order, numbering them, and
only then hands each one on (to the route holding the stream, here or over the relay).

Handing on after the write is what makes a reconnect exact: a client never holds an event
the log lacks, so a turn run again after a crash (the same seq, in another process) goes on
numbering after every position any client saw. Such a run starts on a log that already has
events: it writes a ``reset`` first, so the reply starts over for every reader.

Positions are counted here, per stream id and turn: the first event of a run asks the log
for its last position (one round trip), the rest are counted in memory. One task writes the
whole process's events, a batch per round trip. A write that fails (Redis down) hands the
events on unnumbered (position 0): the live client still gets them, and a reader knows the
log has a hole.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from agent_actors.streams.turn_log import Kind, Logged, TurnEvents

log = logging.getLogger(__name__)
# Runs whose next position is remembered (one per streamed turn in flight, and then some).
RUNS_KEPT = 10_000


@dataclass(frozen=True)
class Written:
    """An event handed on: the stream it goes to, and the event with its position."""

    stream_id: str
    event: Logged


Deliver = Callable[[Written], None]


@dataclass
class _Pending:
    stream_id: str
    thread: str
    event: Logged  # pos 0 until written
    settled: asyncio.Future[None] | None = field(default=None)


class LogWriter:
    def __init__(self, turn_log: TurnEvents, deliver: Deliver, outbox_max: int = 10_000) -> None:
        self._log = turn_log
        self._deliver = deliver
        self._outbox: asyncio.Queue[_Pending] = asyncio.Queue(outbox_max)
        self._next: OrderedDict[tuple[str, str, int], int] = OrderedDict()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._write())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def put(self, stream_id: str, thread: str, seq: int, kind: Kind, text: str) -> None:
        """Queue an event; when the outbox is full it is handed on at once, unnumbered (the
        log then lacks it: readers fall back to the committed reply)."""
        pending = _Pending(stream_id, thread, Logged(seq, 0, kind, text))
        try:
            self._outbox.put_nowait(pending)
        except asyncio.QueueFull:
            self._deliver(Written(stream_id, pending.event))

    async def settle(self, timeout_s: float = 1.0) -> None:
        """Wait (at most ``timeout_s``) until every event queued so far is written: a reply
        returns only once its tokens are in the log."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        try:
            self._outbox.put_nowait(_Pending("", "", Logged(0, 0, "reset"), settled=done))
        except asyncio.QueueFull:
            return
        try:
            await asyncio.wait_for(asyncio.shield(done), timeout_s)
        except TimeoutError:
            log.warning("turn log: events still wait for Redis after %.1f s", timeout_s)

    async def _write(self) -> None:
        while True:
            batch = [await self._outbox.get()]
            while not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            await self._write_batch(batch)

    async def _write_batch(self, batch: list[_Pending]) -> None:
        runs: OrderedDict[tuple[str, str, int], list[_Pending]] = OrderedDict()
        for pending in batch:
            if pending.settled is None:
                run = (pending.stream_id, pending.thread, pending.event.seq)
                runs.setdefault(run, []).append(pending)
        for run, events in runs.items():
            for written in await self._numbered(run, events):
                self._deliver(written)
        for pending in batch:
            if pending.settled is not None and not pending.settled.done():
                pending.settled.set_result(None)

    async def _numbered(self, run: tuple[str, str, int], events: list[_Pending]) -> list[Written]:
        stream_id, thread, seq = run
        try:
            pos = self._next.get(run)
            if pos is None:
                pos = await self._log.last_pos(thread, seq) + 1
                if pos > 1:
                    # Another run wrote this turn before (a crash, a retry): start over.
                    events = [_Pending(stream_id, thread, Logged(seq, 0, "reset")), *events]
            numbered = [
                Logged(seq, pos + i, e.event.kind, e.event.text) for i, e in enumerate(events)
            ]
            await self._log.append(thread, seq, numbered)
        except Exception as exc:
            log.warning("turn log: could not write %s:%d: %r", thread, seq, exc)
            self._next.pop(run, None)  # read the log's last position again next time
            return [Written(stream_id, e.event) for e in events]
        self._next[run] = pos + len(numbered)
        self._next.move_to_end(run)
        while len(self._next) > RUNS_KEPT:
            self._next.popitem(last=False)
        return [Written(stream_id, e) for e in numbered]
