"""Guarantee 11: Memory never skips a turn. When its updates fail for longer than the pub/sub
retry window, events are dead-lettered; the dead letters are kept in the state store, and the
missing turns are read from ChatAgent's committed history (by the next event, a replay or a
rebuild) on the real stack.

Memory's updates fail the way a store outage makes them fail: Redis refuses writes to
MemoryAgentActor's keys (an ACL), while ChatAgent, ResponseAgent, pub/sub and the state API
keep working. The stack gets a short retry policy (a copy of components/ with a rewritten
resiliency.yaml), so "longer than the retry window" takes a second, not the ~40 s of the
shipped policy.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from devstack.settings import REPO_ROOT
from tests.integration.chat_client import chat, eventually, history, memory
from tests.integration.stack_fixture import (
    TEST_TOKEN,
    RunningStack,
    events_delivered,
    start_stack,
)

WINDOW = 6  # three turns: enough to see that none is missing or out of order
# Everything but MemoryAgentActor's keys stays writable: the other actors, the state API's
# keys (dead letters) and the pub/sub streams.
WRITABLE = (
    "agent-actors||ChatAgent||*",
    "agent-actors||ResponseAgent||*",
    "agent-actors||dead-letters|*",
    "user-chat*",
)


def components_with_retries(dst: Path, max_retries: int, interval: str) -> Path:
    """components/ with a pub/sub retry policy of ``max_retries`` tries ``interval`` apart."""
    shutil.copytree(REPO_ROOT / "components", dst)
    path = dst / "resiliency.yaml"
    doc = yaml.safe_load(path.read_text())
    retry = {"policy": "constant", "duration": interval, "maxRetries": max_retries}
    doc["spec"]["policies"]["retries"]["pubsubRetry"] = retry
    path.write_text(yaml.safe_dump(doc))
    return dst


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    components = components_with_retries(tmp_path_factory.mktemp("fast") / "c", 2, "200ms")
    yield from start_stack(
        tmp_path_factory.mktemp("repair"), components_dir=components, memory_window=WINDOW
    )


@contextmanager
def memory_writes_refused(r: redis.Redis) -> Iterator[None]:
    patterns = [f"%RW~{p}" for p in WRITABLE]
    r.execute_command("ACL", "SETUSER", "default", "resetkeys", "%R~*", *patterns)
    try:
        yield
    finally:
        r.execute_command("ACL", "SETUSER", "default", "resetkeys", "~*")


def dead_letters(stack: RunningStack, user: str) -> dict[str, Any]:
    resp = stack.app.get(f"/memory/{user}/dead-letters")
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def seqs(view: dict[str, Any]) -> list[int]:
    return sorted(d["seq"] for d in view["dead_letters"])  # delivery order varies


def tail(stack: RunningStack, user: str) -> list[dict[str, Any]]:
    return list(history(stack.app, user, limit=WINDOW)["history"])


def dead_lettered_turns(stack: RunningStack, user: str, first: int, last: int) -> None:
    """Turns ``first..last`` commit while Memory's writes fail until they are dead-lettered."""
    with memory_writes_refused(stack.redis):
        for seq in range(first, last + 1):
            chat(stack.app, user, f"turn {seq}")
        expected = list(range(first, last + 1))
        eventually(lambda: dead_letters(stack, user), lambda v: expected == seqs(v))


def started(stack: RunningStack, user: str) -> None:
    chat(stack.app, user, "turn 1")
    window = eventually(lambda: memory(stack.app, user), lambda m: len(m) == 2)
    assert window == tail(stack, user)


def test_memory_failing_past_the_retry_window_is_replayed_from_history_without_a_gap(
    stack: RunningStack, user: str
) -> None:
    started(stack, user)
    dead_lettered_turns(stack, user, 2, 4)
    # Once Memory can write again it catches up from the history by itself (a reminder the
    # dead letter scheduled), with no new traffic and no skipped seq.
    eventually(lambda: memory(stack.app, user), lambda m: m == tail(stack, user))
    # The dead letters are in the state store, not in the app's memory: a crash keeps them.
    stack.stack.restart("app", crash=True)
    view = dead_letters(stack, user)
    assert seqs(view) == [2, 3, 4]
    assert (view["last_seq"], view["turns"], view["total"]) == (4, 4, 3)
    assert all(
        d["replayed_at"] is None and set(d) == {"seq", "event_id", "at", "replayed_at"}
        for d in view["dead_letters"]
    )

    resp = stack.app.post(f"/memory/{user}/dead-letters/replay")
    assert resp.status_code == 200, resp.text
    replay = resp.json()
    assert (sorted(replay["replayed"]), replay["last_seq"], replay["turns"]) == ([2, 3, 4], 4, 4)
    assert replay["memory"] == tail(stack, user) == memory(stack.app, user)
    assert all(d["replayed_at"] for d in dead_letters(stack, user)["dead_letters"])

    chat(stack.app, user, "turn 5")  # and the events flow again, in order
    window = eventually(lambda: memory(stack.app, user), lambda m: m[-2]["content"] == "turn 5")
    assert window == tail(stack, user)
    assert dead_letters(stack, user)["last_seq"] == 5


def test_a_lost_turn_is_read_from_history_by_the_next_event_and_its_late_copy_is_a_no_op(
    stack: RunningStack, user: str
) -> None:
    started(stack, user)
    dead_lettered_turns(stack, user, 2, 2)
    chat(stack.app, user, "turn 3")  # one event, not 64: seq 2 comes from the history
    eventually(lambda: dead_letters(stack, user), lambda v: v["last_seq"] == 3)
    window = memory(stack.app, user)
    assert window == tail(stack, user)
    assert [m["content"] for m in window][::2] == ["turn 1", "turn 2", "turn 3"]

    # The lost event turns up late (a redelivery): a duplicate, memory unchanged.
    before = stack.app.get("/events/stats").json()["received"]
    publish_turn(stack, user, seq=2, content="a different turn 2")
    eventually(lambda: events_delivered(stack, before), bool)
    assert memory(stack.app, user) == window


def test_rebuild_brings_memory_to_the_committed_history(stack: RunningStack, user: str) -> None:
    started(stack, user)
    dead_lettered_turns(stack, user, 2, 3)
    resp = stack.app.post(f"/memory/{user}/rebuild")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"memory": tail(stack, user), "last_seq": 3, "turns": 3, "applied": 0}
    assert memory(stack.app, user) == tail(stack, user)


def test_an_event_ahead_of_the_history_is_dead_lettered_never_applied(
    stack: RunningStack, user: str
) -> None:
    started(stack, user)
    publish_turn(stack, user, seq=3, content="turn 2 was never committed")
    view = eventually(lambda: dead_letters(stack, user), lambda v: seqs(v) == [3])
    assert (seqs(view), view["last_seq"], view["turns"]) == ([3], 1, 1)
    replay = stack.app.post(f"/memory/{user}/dead-letters/replay").json()
    assert (replay["replayed"], replay["last_seq"]) == ([], 1)  # only committed turns apply
    assert memory(stack.app, user) == tail(stack, user)


def test_concurrent_dead_letters_of_one_user_are_all_kept(stack: RunningStack, user: str) -> None:
    """Dapr's Redis store honours the ETag: concurrent writers of one key lose nothing."""
    sidecar = {"dapr-api-token": TEST_TOKEN}
    # A dead letter is of a committed turn: a user with no conversation has none to keep.
    assert stack.app.post(f"/chat/{user}", json={"content": "hi"}).status_code == 200

    def send(seq: int) -> str:
        data = {
            "user_id": user,
            "seq": seq,
            "timestamp": datetime.now(UTC).isoformat(),
            "input": {"role": "user", "content": "q"},
            "output": {"role": "assistant", "content": "a"},
        }
        body = {"id": f"ev-{seq}", "topic": "user-chat", "data": data}
        resp = stack.app.post("/subscribe/dead-letter", json=body, headers=sidecar)
        return str(resp.json()["status"])

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert set(pool.map(send, range(1, 33))) == {"SUCCESS"}
    view = dead_letters(stack, user)
    assert sorted(seqs(view)) == list(range(1, 33))
    assert view["total"] == 32


def publish_turn(stack: RunningStack, user: str, seq: int, content: str) -> None:
    """An event of the user's current conversation (its id as ChatAgent's meta has it: one
    of another conversation would be dropped as stale)."""
    meta = stack.redis.hget(f"agent-actors||ChatAgent||{user}||meta", "data")
    event = {
        "event_type": "ConversationUpdated",
        "user_id": user,
        "conversation": json.loads(meta)["conversation"] if meta else "",
        "seq": seq,
        "input": {"role": "user", "content": content},
        "output": {"role": "assistant", "content": content},
        "timestamp": datetime.now(UTC).isoformat(),
    }
    d = stack.settings.dapr
    resp = stack.daprd.post(f"/v1.0/publish/{d.pubsub_name}/{d.topic}", json=event)
    assert resp.status_code == 204, resp.text
