"""The relay's outbox while Redis is slow: a stream that lost an event never shows a hole."""

from __future__ import annotations

import json

from agent_actors.streams.relay import PREFIX, RedisRelay


def queued(relay: RedisRelay) -> list[tuple[str, dict[str, str]]]:
    """What waits in the outbox, in order (taken out)."""
    out = []
    while relay.waiting:
        channel, data = relay._outbox.get_nowait()
        out.append((channel.removeprefix(PREFIX), json.loads(data)))
    return out


def token(text: str) -> dict[str, str]:
    return {"kind": "token", "text": text}


async def test_after_a_drop_a_stream_goes_on_only_after_a_reset() -> None:
    relay = RedisRelay("redis://127.0.0.1:1", lambda _id, _event: None, outbox_max=3)
    relay.send("a", token("1"))
    relay.send("a", token("2"))
    relay.send("b", token("x"))
    relay.send("a", token("3"))  # full: dropped, "a" has a hole
    assert [e["text"] for _, e in queued(relay)] == ["1", "2", "x"]
    # Room again: "a" drops what it has, then goes on whole; "b" lost nothing.
    relay.send("a", token("4"))
    relay.send("b", token("y"))
    assert queued(relay) == [
        ("a", {"kind": "reset", "text": ""}),
        ("a", token("4")),
        ("b", token("y")),
    ]
    await relay.close()


async def test_a_holed_stream_waits_for_room_for_the_reset_and_its_event() -> None:
    relay = RedisRelay("redis://127.0.0.1:1", lambda _id, _event: None, outbox_max=2)
    relay.send("a", token("1"))
    relay.send("a", token("2"))
    relay.send("a", token("3"))  # dropped
    relay._outbox.get_nowait()  # one place free: not enough for a reset and a token
    relay.send("a", token("4"))
    assert [e["text"] for _, e in queued(relay)] == ["2"]
    relay.send("a", token("5"))
    assert [e["kind"] for _, e in queued(relay)] == ["reset", "token"]
    await relay.close()
