"""The turn log's ids and text, and its writer: numbering, order, a run after another, Redis
down (on the in-memory twin; on Redis: tests/integration/test_resumable_streams.py)."""

from __future__ import annotations

import pytest

from agent_actors.streams.log_writer import LogWriter, Written
from agent_actors.streams.turn_log import Logged, event_id, parse_event_id, replayed_text
from tests.unit.streams.memory_log import MemoryLog


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("3-5", (3, 5)), (" 12-0 ", (12, 0)), ("1-123456789", (1, 123456789))],
)
def test_an_event_id_names_a_turn_and_a_position(value: str, parsed: tuple[int, int]) -> None:
    assert parse_event_id(value) == parsed
    assert event_id(*parsed) == f"{parsed[0]}-{parsed[1]}"


@pytest.mark.parametrize(
    "value", ["", "3", "0-1", "-1-2", "3-x", "3-5-1", "a-b", "3 - 5", "1" * 30]
)
def test_anything_else_is_no_event_id(value: str) -> None:
    assert parse_event_id(value) is None


def test_a_reset_drops_the_text_before_it() -> None:
    events = [
        Logged(1, 1, "token", "draft"),
        Logged(1, 2, "reset"),
        Logged(1, 3, "token", "Hel"),
        Logged(1, 4, "token", "lo"),
    ]
    assert replayed_text(events) == "Hello"


class Sink:
    def __init__(self) -> None:
        self.got: list[Written] = []

    def __call__(self, written: Written) -> None:
        self.got.append(written)


async def written(log: MemoryLog, events: list[tuple[str, str, int, str, str]]) -> Sink:
    sink = Sink()
    writer = LogWriter(log, sink)
    writer.start()
    try:
        for stream_id, thread, seq, kind, text in events:
            writer.put(stream_id, thread, seq, kind, text)  # type: ignore[arg-type]
        await writer.settle()
    finally:
        await writer.close()
    return sink


async def test_events_are_numbered_logged_then_handed_on_in_order() -> None:
    log = MemoryLog()
    sink = await written(
        log,
        [
            ("s1", "u1", 1, "token", "Hel"),
            ("s1", "u1", 1, "token", "lo"),
            ("s2", "u2", 4, "token", "x"),
        ],
    )
    assert [(w.stream_id, w.event.pos, w.event.text) for w in sink.got] == [
        ("s1", 1, "Hel"),
        ("s1", 2, "lo"),
        ("s2", 1, "x"),
    ]
    # What a live client got is what the log has, position for position.
    assert [w.event for w in sink.got if w.stream_id == "s1"] == log.events("u1", 1)
    assert log.events("u2", 4) == [Logged(4, 1, "token", "x")]


async def test_a_run_on_a_turn_another_run_wrote_starts_with_a_reset() -> None:
    log = MemoryLog()
    await written(log, [("first", "u1", 2, "token", "cut sho")])
    # The same turn run again (after a crash: a new process, the same or another stream id).
    sink = await written(log, [("again", "u1", 2, "token", "whole")])
    assert [(w.event.pos, w.event.kind) for w in sink.got] == [(2, "reset"), (3, "token")]
    assert replayed_text(log.events("u1", 2)) == "whole"


async def test_when_the_log_cannot_be_written_events_go_on_unnumbered() -> None:
    log = MemoryLog()
    log.fail = True
    sink = await written(log, [("s1", "u1", 1, "token", "a"), ("s1", "u1", 1, "token", "b")])
    assert [(w.event.pos, w.event.text) for w in sink.got] == [(0, "a"), (0, "b")]
    log.fail = False
    sink = await written(log, [("s1", "u1", 1, "token", "c")])
    assert [w.event.pos for w in sink.got] == [1]


async def test_two_runs_of_one_turn_in_one_batch_are_both_logged() -> None:
    """Two runs of one turn (a long turn's run started again: a new stream id, the same thread
    and seq) whose events share a batch: the second numbers on after the first, behind a
    reset, not from the same position (Redis would refuse its first events)."""
    log, sink = MemoryLog(), Sink()
    writer = LogWriter(log, sink)
    writer.start()
    try:
        writer.put("watch:run1", "u1", 3, "token", "old")
        writer.put("watch:run2", "u1", 3, "token", "new")
        await writer.settle()
    finally:
        await writer.close()
    assert [(w.stream_id, w.event.pos) for w in sink.got if w.event.kind == "token"] == [
        ("watch:run1", 1),
        ("watch:run2", 3),
    ]
    assert [e.kind for e in log.events("u1", 3)] == ["token", "reset", "token"]
