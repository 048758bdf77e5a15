"""Guarantees 3-5: exactly-once, in-order memory whatever pub/sub does; dead letters; outbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.integration.chat_client import chat, count, eventually, history, memory
from tests.integration.stack_fixture import RunningStack, events_delivered


def event(user: str, seq: int) -> dict[str, Any]:
    return {
        "event_type": "ConversationUpdated",
        "user_id": user,
        "seq": seq,
        "input": {"role": "user", "content": f"q{seq}"},
        "output": {"role": "assistant", "content": f"a{seq}"},
        "timestamp": datetime.now(UTC).isoformat(),
    }


def publish(stack: RunningStack, body: object) -> None:
    d = stack.settings.dapr
    resp = stack.daprd.post(f"/v1.0/publish/{d.pubsub_name}/{d.topic}", json=body)
    assert resp.status_code == 204, resp.text


def stats(stack: RunningStack) -> dict[str, Any]:
    body: dict[str, Any] = stack.app.get("/events/stats").json()
    return body


def test_duplicates_and_late_redeliveries_change_nothing(stack: RunningStack, user: str) -> None:
    for i in (1, 2, 3):
        chat(stack.app, user, f"turn {i}")
    last = history(stack.app, user, limit=3)["history"]
    window = eventually(lambda: memory(stack.app, user), lambda m: m == last)
    before = stats(stack)["received"]
    for seq in (2, 2, 1, 3):  # copies with other content, through real pub/sub
        publish(stack, event(user, seq))
    eventually(lambda: events_delivered(stack, before + 3), bool)
    assert memory(stack.app, user) == window
    chat(stack.app, user, "turn 4")
    last = history(stack.app, user, limit=3)["history"]
    eventually(lambda: memory(stack.app, user), lambda m: m == last)


def test_malformed_event_is_dropped_to_the_dead_letter_topic(stack: RunningStack) -> None:
    before = stats(stack)
    publish(stack, {"user_id": "x", "seq": "not a number"})
    after = eventually(lambda: stats(stack), lambda s: s["dead_letters"] > before["dead_letters"])
    assert after["dropped"] == before["dropped"] + 1
    assert after["dead_letters"] == before["dead_letters"] + 1
    # delivered once and dropped, not retried forever
    assert stack.redis.xlen("user-chat-deadletter") >= 1
    # kept in the state store, with why it could not be read and never what it said
    kept = stack.app.get("/events/dead-letters")
    assert kept.status_code == 200, kept.text
    assert "seq: int_parsing" in kept.json()["letters"][-1]["reason"]
    assert "not a number" not in kept.text + str(after)


@pytest.fixture
def pubsub_refused(stack: RunningStack) -> Iterator[None]:
    """Redis refuses stream commands (what pub/sub uses) while state keeps working."""
    stack.redis.execute_command("ACL", "SETUSER", "default", "-@stream")
    try:
        yield
    finally:
        stack.redis.execute_command("ACL", "SETUSER", "default", "+@all")


def test_turns_succeed_while_publishing_fails_and_memory_catches_up(
    stack: RunningStack, user: str, pubsub_refused: None
) -> None:
    chat(stack.app, user, "during outage 1")
    chat(stack.app, user, "during outage 2")
    assert history(stack.app, user)["pending_events"] == 2
    assert memory(stack.app, user) == []
    assert count(stack.app, user) == 2
    stack.redis.execute_command("ACL", "SETUSER", "default", "+@all")
    # No new chat message: the outbox reminder republishes on its own.
    window = eventually(lambda: memory(stack.app, user), lambda m: len(m) == 3, timeout=60)
    assert [m["content"] for m in window][1] == "during outage 2"
    assert [m["role"] for m in window] == ["assistant", "user", "assistant"]
    eventually(lambda: history(stack.app, user), lambda h: h["pending_events"] == 0)


def test_pending_events_survive_an_app_crash_and_go_out_without_new_traffic(
    stack: RunningStack, user: str, pubsub_refused: None
) -> None:
    chat(stack.app, user, "before the crash")
    assert history(stack.app, user)["pending_events"] == 1
    stack.stack.restart("app", crash=True)  # the process dies; the reminder lives in the scheduler
    stack.redis.execute_command("ACL", "SETUSER", "default", "+@all")
    window = eventually(lambda: memory(stack.app, user), lambda m: len(m) == 2, timeout=60)
    assert [m["role"] for m in window] == ["user", "assistant"]
    assert window[0]["content"] == "before the crash"
