"""The stream relay and the turn log on a real Redis: tokens written in one process reach a
stream held in another, in order, numbered as the turn's log has them (two hubs stand for
two replicas' processes); many streams at once (bench W3's 1,000) each get the log's reads
and writes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from agent_actors.main import _start_streams
from agent_actors.settings.streams import StreamSettings
from agent_actors.streams.hub import StreamHub
from agent_actors.streams.log_writer import LogWriter
from agent_actors.streams.turn_log import Logged, TurnLog, replayed_text
from tests.integration.stack_fixture import RunningStack


@dataclass(frozen=True)
class Target:
    stream_id: str | None
    user_id: str = "relay-user"
    seq: int = 1


def redis_url(stack: RunningStack) -> str:
    return f"redis://127.0.0.1:{stack.redis.connection_pool.connection_kwargs['port']}"


async def test_tokens_cross_processes_in_order_and_stop_after_close(stack: RunningStack) -> None:
    url = redis_url(stack)
    holder, writer = StreamHub(), StreamHub()
    to = Target("s-relay")
    await holder.start_relay(url)
    await writer.start_relay(url)
    try:
        queue = await holder.open("s-relay")
        assert writer.listening(to)  # with a relay, a listener may be elsewhere
        words = [f"w{i} " for i in range(50)]
        writer.token(to, "draft")
        writer.reset(to)
        for word in words:
            writer.token(to, word)
        got = [await asyncio.wait_for(queue.get(), 5) for _ in range(len(words) + 2)]
        assert [(e.kind, e.text) for e in got[:2]] == [("token", "draft"), ("reset", "")]
        assert "".join(e.text for e in got[2:]) == "".join(words)
        await holder.close("s-relay")
        writer.token(to, "late")
        await asyncio.sleep(0.3)
        assert queue.empty()
    finally:
        await holder.stop_relay()
        await writer.stop_relay()


async def test_logged_events_reach_the_holder_numbered_as_the_log_has_them(
    stack: RunningStack,
) -> None:
    url = redis_url(stack)
    holder, writer = StreamHub(), StreamHub()
    await holder.start_relay(url)
    await writer.start_relay(url)
    await writer.start_log(TurnLog(url, max_events=1000, ttl_s=60))
    reader = TurnLog(url)
    to = Target("s-logged", user_id=f"log-{id(writer)}", seq=3)
    try:
        queue = await holder.open("s-logged")
        words = [f"w{i} " for i in range(30)]
        writer.token(to, "draft")
        writer.reset(to)
        for word in words:
            writer.token(to, word)
        await writer.settle(to)
        got = [await asyncio.wait_for(queue.get(), 5) for _ in range(len(words) + 2)]
        assert [(e.seq, e.pos) for e in got] == [(3, p) for p in range(1, len(words) + 3)]
        logged = await reader.read(to.user_id, 3, 0)
        assert [(e.seq, e.pos, e.kind, e.text) for e in got] == [
            (e.seq, e.pos, e.kind, e.text) for e in logged
        ]
        assert replayed_text(logged) == "".join(words)
        assert await reader.read(to.user_id, 3, 31) == [Logged(3, 32, "token", "w29 ")]
        assert await reader.last_pos(to.user_id, 3) == 32
        ttl = stack.redis.ttl(f"agent-actors:turn-events:{to.user_id}:3")
        assert 0 < ttl <= 60
        # A blocking read waits for the next event, and no longer than asked.
        assert await reader.read(to.user_id, 3, 32, block_s=0.2) == []
    finally:
        await reader.aclose()
        await holder.stop_relay()
        await writer.stop_log()
        await writer.stop_relay()


READERS = 150  # streams ending at once, each reading its turn's log: over redis-py's 100


async def test_as_many_log_readers_at_once_as_streams_each_get_a_connection(
    stack: RunningStack,
) -> None:
    # The log as the app starts it (main._start_streams, default settings): its pool was
    # redis-py's default, 100 connections, and the 101st read at once was refused
    # (MaxConnectionsError), so that stream ended with its reply as one token (bench W3).
    got = await reads_at_once(StreamSettings(relay_url=redis_url(stack)), READERS, 1.0)
    assert [g for g in got if g != []] == []


async def reads_at_once(settings: StreamSettings, reads: int, block_s: float) -> list[Any]:
    """``reads`` reads of the turn log as the app starts it, all at once, each blocking for
    the next event of a turn nobody writes: what each answered (or raised)."""
    hub = StreamHub()
    await _start_streams(hub, settings)
    log = hub.log
    assert log is not None
    try:
        return await asyncio.gather(
            *(log.read(f"readers-{i}", 1, 0, block_s=block_s) for i in range(reads)),
            return_exceptions=True,
        )
    finally:
        await hub.stop_log()
        await hub.stop_relay()


async def test_a_batch_of_many_runs_is_numbered_and_logged_run_by_run(
    stack: RunningStack,
) -> None:
    # One batch of many runs' events is written in two round trips (log_writer.py): each run
    # numbered on from its own log, and a run Redis refuses (its key holds no stream) goes
    # on unnumbered alone.
    url = redis_url(stack)
    runs = 200
    threads = [f"batch-{id(stack)}-{i}" for i in range(runs)]
    stack.redis.set(f"agent-actors:turn-events:{threads[7]}:1", "not a stream")
    reader = TurnLog(url)
    await reader.append(threads[3], 1, [Logged(1, 1, "token", "old run")])
    got: list[tuple[str, int, str, str]] = []
    writer = LogWriter(
        reader, lambda w: got.append((w.stream_id, w.event.pos, w.event.kind, w.event.text))
    )
    writer.start()
    try:
        for word in ("a", "b"):
            for i, thread in enumerate(threads):
                writer.put(f"s{i}", thread, 1, "token", f"{word}{i}")
        await writer.settle()
        for i, thread in enumerate(threads):
            mine = [(pos, kind, text) for s, pos, kind, text in got if s == f"s{i}"]
            if i == 7:
                assert mine == [(0, "token", "a7"), (0, "token", "b7")]
            elif i == 3:  # another run wrote this turn: a reset first, then on after it
                assert mine == [(2, "reset", ""), (3, "token", "a3"), (4, "token", "b3")]
            else:
                assert mine == [(1, "token", f"a{i}"), (2, "token", f"b{i}")], (i, mine)
                logged = await reader.read(thread, 1, 0)
                assert replayed_text(logged) == f"a{i}b{i}"
    finally:
        await writer.close()
        await reader.aclose()


async def test_readers_past_the_pool_wait_for_a_connection(stack: RunningStack) -> None:
    # Three times as many reads at once as the pool has connections: each waits for one
    # (a blocking pool) instead of being refused (MaxConnectionsError), so the pool can stay
    # small enough for every replica's to fit under the Redis it shares with daprd.
    settings = StreamSettings(relay_url=redis_url(stack), turn_log_max_connections=20)
    got = await reads_at_once(settings, 60, 0.3)
    assert [g for g in got if g != []] == []
