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
        if runs:
            for written in await self._numbered(runs):
                self._deliver(written)
        for pending in batch:
            if pending.settled is not None and not pending.settled.done():
                pending.settled.set_result(None)

    async def _numbered(
        self, runs: OrderedDict[tuple[str, str, int], list[_Pending]]
    ) -> list[Written]:
        """Every run of the batch numbered and written: two round trips for the whole batch
        (the last positions of runs new here, then every append), not two per run. One per
        run, awaited in turn, let the log fall seconds behind at 1,000 streams (bench W3):
        each await is a pass of a busy event loop, and a reply waits for its tokens' write."""
        new = [run for run in runs if run not in self._next]
        try:
            lasts = await self._log.last_positions([(t, s) for _, t, s in new]) if new else []
        except Exception as exc:
            log.warning("turn log: could not read %d runs' positions: %r", len(new), exc)
            return [Written(run[0], e.event) for run, events in runs.items() for e in events]
        first = dict(zip(new, lasts, strict=True))
        plan: list[tuple[tuple[str, str, int], list[_Pending], list[Logged]]] = []
        out: list[Written] = []
        # Each turn's next free position after the runs of this batch planned so far: two
        # runs of one turn in a batch (a long turn's run started again while the old one's
        # events still wait) would otherwise both number on from the same last position.
        taken: dict[tuple[str, int], int] = {}
        for run, events in runs.items():
            stream_id, thread, seq = run
            pos = self._next.get(run)
            if pos is None:
                last = first[run]
                if isinstance(last, Exception):
                    log.warning("turn log: could not read %s:%d: %r", thread, seq, last)
                    out += [Written(stream_id, e.event) for e in events]
                    continue
                pos = last + 1
                restart = pos > 1  # another run wrote this turn before (a crash, a retry)
            else:
                restart = False
            if taken.get((thread, seq), 0) > pos:  # another run of this batch wrote it first
                pos, restart = taken[(thread, seq)], True
            if restart:
                events = [_Pending(stream_id, thread, Logged(seq, 0, "reset")), *events]
            taken[(thread, seq)] = pos + len(events)
            numbered = [
                Logged(seq, pos + i, e.event.kind, e.event.text) for i, e in enumerate(events)
            ]
            plan.append((run, events, numbered))
        try:
            failures = await self._log.append_many([(r[1], r[2], n) for r, _, n in plan])
        except Exception as exc:
            failures = [exc] * len(plan)
        for (run, events, numbered), failure in zip(plan, failures, strict=True):
            stream_id, thread, seq = run
            if failure is not None:
                log.warning("turn log: could not write %s:%d: %r", thread, seq, failure)
                self._next.pop(run, None)  # read the log's last position again next time
                out += [Written(stream_id, e.event) for e in events]
                continue
            self._next[run] = numbered[-1].pos + 1
            self._next.move_to_end(run)
            out += [Written(stream_id, e) for e in numbered]
        while len(self._next) > RUNS_KEPT:
            self._next.popitem(last=False)
        return out
