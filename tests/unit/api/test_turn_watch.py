"""The reader that gives a reconnecting or attaching client the rest of a turn: the log after
a position, the check that it spells the committed reply, the end (on the log's twin)."""

from __future__ import annotations

import asyncio

from agent_actors.api.turn_watch import Ending, done, failed, watch
from agent_actors.errors import TurnInterrupted
from agent_actors.streams.turn_log import Logged
from tests.unit.streams.memory_log import MemoryLog


def ended(ending: Ending) -> asyncio.Future[Ending]:
    future: asyncio.Future[Ending] = asyncio.get_running_loop().create_future()
    future.set_result(ending)
    return future


async def read_all(
    log: MemoryLog | None, after: int, end: asyncio.Future[Ending], **kw: bool
) -> list[tuple[str, str, str]]:
    return [
        (e.event or "", e.data or "", e.id or "")
        async for e in watch(
            log,
            "u1",
            3,
            after,
            end,
            holding=kw.get("holding", after > 0),
            intact=kw.get("intact", True),
        )
    ]


def fill(log: MemoryLog, texts: list[str]) -> None:
    log.streams["agent-actors:turn-events:u1:3"] = [
        Logged(3, i, "reset" if t == "<reset>" else "token", "" if t == "<reset>" else t)
        for i, t in enumerate(texts, start=1)
    ]


async def test_a_reconnect_gets_the_rest_after_its_last_event_then_done() -> None:
    log = MemoryLog()
    fill(log, ["draft", "<reset>", "Hel", "lo"])
    got = await read_all(log, 2, ended(done(3, "assistant", "Hello")))
    assert got == [
        ("token", '{"text": "Hel"}', "3-3"),
        ("token", '{"text": "lo"}', "3-4"),
        ("done", '{"role": "assistant", "content": "Hello", "seq": 3}', "3-5"),
    ]


class LateLog(MemoryLog):
    """A log whose writer lags: the rest of the turn is written just after the first read
    of the tail came back empty, before the read of the whole log."""

    def __init__(self, rest: list[Logged]) -> None:
        super().__init__()
        self._rest = rest

    async def read(
        self, thread: str, seq: int, after: int, *, block_s: float | None = None
    ) -> list[Logged]:
        got = await super().read(thread, seq, after, block_s=block_s)
        if self._rest and after > 0:
            await self.append(thread, seq, self._rest)
            self._rest = []
        return got


async def test_events_written_while_the_tail_is_read_reach_the_client_before_done() -> None:
    log = LateLog([Logged(3, 3, "token", " world")])
    fill(log, ["Hel", "lo"])
    got = await read_all(log, 2, ended(done(3, "assistant", "Hello world")))
    assert got == [
        ("token", '{"text": " world"}', "3-3"),
        ("done", '{"role": "assistant", "content": "Hello world", "seq": 3}', "3-4"),
    ]


async def test_a_log_with_a_hole_ends_with_the_committed_reply() -> None:
    log = MemoryLog()
    fill(log, ["Hel", "lo", "!"])
    del log.streams["agent-actors:turn-events:u1:3"][1]  # lost (Redis was down)
    got = await read_all(log, 0, ended(done(3, "assistant", "Hello!")))
    assert [(name, data) for name, data, _ in got] == [
        ("token", '{"text": "Hel"}'),
        ("reset", "{}"),
        ("token", '{"text": "Hello!"}'),
        ("done", '{"role": "assistant", "content": "Hello!", "seq": 3}'),
    ]


async def test_a_log_trimmed_at_its_start_is_not_replayed() -> None:
    log = MemoryLog()
    fill(log, ["Hel", "lo"])
    del log.streams["agent-actors:turn-events:u1:3"][0]
    got = await read_all(log, 0, ended(done(3, "assistant", "Hello")))
    assert [name for name, _, _ in got] == ["token", "done"]
    assert got[0][1] == '{"text": "Hello"}'


async def test_without_a_log_a_finished_turn_is_its_reply_as_one_token() -> None:
    got = await read_all(None, 0, ended(done(3, "assistant", "Hello")))
    assert got == [
        ("token", '{"text": "Hello"}', "3-0"),
        ("done", '{"role": "assistant", "content": "Hello", "seq": 3}', "3-1"),
    ]


async def test_a_turn_that_ended_without_a_reply_ends_with_its_error() -> None:
    log = MemoryLog()
    fill(log, ["Hel"])
    got = await read_all(log, 1, ended(failed(TurnInterrupted("gone"))))
    assert [name for name, _, _ in got] == ["error"]
    assert '"turn_interrupted"' in got[0][1]


async def test_a_running_turn_is_followed_until_it_ends() -> None:
    log = MemoryLog()
    end: asyncio.Future[Ending] = asyncio.get_running_loop().create_future()

    async def run() -> None:
        for pos, text in enumerate(["Hel", "lo"], start=1):
            await asyncio.sleep(0.05)
            await log.append("u1", 3, [Logged(3, pos, "token", text)])
        end.set_result(done(3, "assistant", "Hello"))

    writer = asyncio.create_task(run())
    got = await asyncio.wait_for(read_all(log, 0, end), 5)
    await writer
    assert [(n, i) for n, _, i in got] == [("token", "3-1"), ("token", "3-2"), ("done", "3-3")]


async def test_a_log_that_cannot_be_read_still_ends_with_the_committed_reply() -> None:
    """Redis down while a client reconnects (or at a live stream's tail): the turn is
    committed, so the client gets the reply from ChatAgent, never a stream cut without an end."""
    log = MemoryLog()
    fill(log, ["Hel", "lo"])
    log.fail = True
    got = await read_all(log, 1, ended(done(3, "assistant", "Hello")))
    assert [(name, data) for name, data, _ in got] == [
        ("reset", "{}"),
        ("token", '{"text": "Hello"}'),
        ("done", '{"role": "assistant", "content": "Hello", "seq": 3}'),
    ]
    # Down while the turn runs: the reader waits for its end, then the reply.
    end: asyncio.Future[Ending] = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(0.05, end.set_result, done(3, "assistant", "Hello"))
    got = await asyncio.wait_for(read_all(log, 0, end), 5)
    assert [(name, data) for name, data, _ in got] == [
        ("token", '{"text": "Hello"}'),
        ("done", '{"role": "assistant", "content": "Hello", "seq": 3}'),
    ]


class CountedLog(MemoryLog):
    """A log that counts its reads by the position they start after."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[int] = []

    async def read(
        self, thread: str, seq: int, after: int, *, block_s: float | None = None
    ) -> list[Logged]:
        self.reads.append(after)
        return await super().read(thread, seq, after, block_s=block_s)


async def live_end(log: MemoryLog, after: int, held: list[str], content: str) -> list[str]:
    return [
        f"{e.event} {e.data} {e.id}"
        async for e in watch(
            log, "u1", 3, after, ended(done(3, "assistant", content)), holding=True, held=held
        )
    ]


async def test_a_live_stream_holding_the_reply_ends_without_reading_the_whole_log() -> None:
    log = CountedLog()
    fill(log, ["draft", "<reset>", "Hel", "lo"])
    got = await live_end(log, 3, ["Hel"], "Hello")
    assert got == [
        'token {"text": "lo"} 3-4',
        'done {"role": "assistant", "content": "Hello", "seq": 3} 3-5',
    ]
    assert log.reads == [3]  # the tail only, not the whole log (a read after 0)


async def test_a_live_stream_short_of_the_reply_still_checks_the_whole_log() -> None:
    log = LateLog([Logged(3, 3, "token", " world")])
    fill(log, ["Hel", "lo"])
    got = await live_end(log, 2, ["Hel", "lo"], "Hello world")
    assert got == [
        'token {"text": " world"} 3-3',
        'done {"role": "assistant", "content": "Hello world", "seq": 3} 3-4',
    ]
