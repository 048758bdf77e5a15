"""Conversations as sessions on the real stack: delete, retention, the turn bound, the
export, and the per-key rate limit."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import redis

from tests.integration.chat_client import chat, eventually, history, memory
from tests.integration.stack_fixture import (
    TEST_TOKEN,
    RunningStack,
    events_delivered,
    start_stack,
)

ADMIN = "admin-key"
LIMITED = "limited-key"
BOUND = "bound-key"
# Its own key (and token bucket): its turns must not use up the next test's rate.
HALF = "half-key"
KEYS = {ADMIN: "*", LIMITED: "*", BOUND: "somebody", HALF: "*"}
RETENTION_S = 6
MAX_TURNS = 6
INDEX_BUCKET_S = 1.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    env = {
        "AGENT_ACTORS_AUTH__API_KEYS": json.dumps(KEYS),
        "AGENT_ACTORS_AUTH__RATE_PER_S": "20",
        "AGENT_ACTORS_AUTH__RATE_BURST": "20",
    }
    for running in start_stack(
        tmp_path_factory.mktemp("sessions"),
        extra_env=env,
        retention_s=float(RETENTION_S),
        max_turns=MAX_TURNS,
        # One-second buckets: a conversation moves to another bucket within a test.
        index_bucket_s=INDEX_BUCKET_S,
    ):
        running.app.headers["Authorization"] = f"Bearer {ADMIN}"
        yield running


def keys_of(stack: RunningStack, user: str) -> list[str]:
    return sorted(stack.redis.scan_iter(f"*{user}*"))


def reminder(stack: RunningStack, actor_type: str, actor_id: str, name: str) -> int:
    """The status daprd answers for one reminder (200: registered)."""
    resp = stack.daprd.get(f"/v1.0/actors/{actor_type}/{actor_id}/reminders/{name}")
    return resp.status_code


def conversation_id(stack: RunningStack, user: str) -> str:
    raw = stack.redis.hget(f"agent-actors||ChatAgent||{user}||meta", "data")
    assert raw is not None
    value: str = json.loads(raw)["conversation"]
    return value


def old_event(user: str, conversation: str, seq: int) -> dict[str, Any]:
    return {
        "event_type": "ConversationUpdated",
        "user_id": user,
        "conversation": conversation,
        "seq": seq,
        "input": {"role": "user", "content": f"old q{seq}"},
        "output": {"role": "assistant", "content": f"old a{seq}"},
        "timestamp": datetime.now(UTC).isoformat(),
    }


def test_delete_erases_every_key_and_the_next_turn_is_seq_1(stack: RunningStack, user: str) -> None:
    for i in range(3):
        chat(stack.app, user, f"turn {i}")
    eventually(lambda: len(memory(stack.app, user)), lambda n: n > 0)
    before = keys_of(stack, user)
    assert any("||ChatAgent||" in k for k in before)
    assert any("||ResponseAgent||" in k for k in before)
    assert any("||MemoryAgentActor||" in k for k in before)
    assert reminder(stack, "ChatAgent", user, "retention") == 200
    conversation = conversation_id(stack, user)

    assert stack.app.delete(f"/chat/{user}").status_code == 204
    assert stack.app.delete(f"/chat/{user}").status_code == 204  # idempotent
    assert keys_of(stack, user) == []
    for name in ("outbox", "retention"):
        assert reminder(stack, "ChatAgent", user, name) != 200, name
    assert reminder(stack, "MemoryAgentActor", user, "catch-up") != 200

    # a late event of the deleted conversation, through real pub/sub: no resurrection
    received = stack.app.get("/events/stats").json()["received"]
    d = stack.settings.dapr
    published = stack.daprd.post(
        f"/v1.0/publish/{d.pubsub_name}/{d.topic}", json=old_event(user, conversation, 1)
    )
    assert published.status_code == 204
    eventually(lambda: events_delivered(stack, received), bool)
    assert keys_of(stack, user) == []

    resp = stack.app.post(f"/chat/{user}", json={"role": "user", "content": "again"})
    assert resp.status_code == 200
    assert resp.headers["Turn-Seq"] == "1"
    assert history(stack.app, user, limit=10)["total"] == 2
    # the old conversation's seq 2 arrives after the new seq 1: not applied either
    received = stack.app.get("/events/stats").json()["received"]
    stack.daprd.post(
        f"/v1.0/publish/{d.pubsub_name}/{d.topic}", json=old_event(user, conversation, 2)
    )
    eventually(lambda: events_delivered(stack, received), bool)
    window = eventually(lambda: memory(stack.app, user), lambda m: len(m) == 2)
    assert next(m["content"] for m in window) == "again"
    stack.app.delete(f"/chat/{user}")


def test_a_delete_that_failed_half_way_leaves_no_stale_count(
    stack: RunningStack, user: str
) -> None:
    """ChatAgent's keys erased but ResponseAgent's count left (its Delete failed), then a new
    conversation: it counts from 1, not from the old count."""
    auth = {"Authorization": f"Bearer {HALF}"}
    with httpx.Client(base_url=str(stack.app.base_url), headers=auth, timeout=60) as app:
        for i in range(3):
            chat(app, user, f"old {i}")
        for key in stack.redis.scan_iter(f"*||ChatAgent||{user}||*"):
            stack.redis.delete(key)
        token = {"dapr-api-token": TEST_TOKEN}
        gone = app.delete(f"/actors/ChatAgent/{user}", headers=token)
        assert gone.status_code == 200, gone.text  # deactivated: its cache is gone too
        resp = app.post(f"/chat/{user}", json={"role": "user", "content": "new"})
        assert resp.headers["Turn-Seq"] == "1"
        assert app.get(f"/response/{user}/count").json() == {"count": 1}
        chat(app, user, "new 2")
        assert app.get(f"/response/{user}/count").json() == {"count": 2}
        app.delete(f"/chat/{user}")


def test_turns_racing_a_delete_leave_a_whole_conversation(stack: RunningStack, user: str) -> None:
    chat(stack.app, user, "first")
    codes: list[int] = []

    def turns() -> None:
        with httpx.Client(base_url=str(stack.app.base_url), headers=stack.app.headers) as c:
            for i in range(4):
                r = c.post(f"/chat/{user}", json={"role": "user", "content": f"race {i}"})
                codes.append(r.status_code)

    worker = threading.Thread(target=turns)
    worker.start()
    assert stack.app.delete(f"/chat/{user}").status_code == 204
    worker.join()
    assert set(codes) == {200}
    summary = stack.app.get(f"/chat/{user}").json()
    view = history(stack.app, user, limit=50)
    # whatever ran after the delete is a whole conversation numbered from 1
    assert view["total"] == 2 * summary["turns"]
    assert [e["content"] for e in view["history"][::2]] == [
        f"race {i}" for i in range(4 - summary["turns"], 4)
    ]
    stack.app.delete(f"/chat/{user}")


def test_an_idle_conversation_is_erased_after_the_retention(stack: RunningStack, user: str) -> None:
    chat(stack.app, user, "soon gone")
    assert keys_of(stack, user) != []
    # the reminder fires RETENTION_S after the first turn (scheduler time, not ours)
    assert eventually(lambda: keys_of(stack, user), lambda k: k == [], timeout=60) == []
    # The erasure drops its own reminder last, after the keys (erasure.py): soon, not at once.
    armed = eventually(
        lambda: reminder(stack, "ChatAgent", user, "retention"), lambda s: s != 200, timeout=10
    )
    assert armed != 200
    resp = stack.app.post(f"/chat/{user}", json={"role": "user", "content": "back"})
    assert resp.headers["Turn-Seq"] == "1"
    stack.app.delete(f"/chat/{user}")


def test_summary_export_and_the_turn_bound(stack: RunningStack, user: str) -> None:
    for i in range(MAX_TURNS):
        chat(stack.app, user, f"q{i}")
    refused = stack.app.post(f"/chat/{user}", json={"role": "user", "content": "one more"})
    assert refused.status_code == 409
    assert refused.json()["code"] == "turn_limit"
    eventually(lambda: len(memory(stack.app, user)), lambda n: n == 3)
    summary = stack.app.get(f"/chat/{user}").json()
    assert summary["turns"] == MAX_TURNS
    assert summary["memory_size"] == 3
    assert summary["profile"]["responder"] == "offline"
    assert summary["last_activity"] >= summary["created_at"] > 0
    with stack.app.stream("GET", f"/chat/{user}/export") as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in resp.iter_lines() if line]
    kinds = [line["type"] for line in lines]
    assert kinds[0] == "session"
    entries = [line for line in lines if line["type"] == "entry"]
    assert [e["seq"] for e in entries] == [s for s in range(1, MAX_TURNS + 1) for _ in (0, 1)]
    assert [e["content"] for e in entries[::2]] == [f"q{i}" for i in range(MAX_TURNS)]
    assert all(e["at"] for e in entries)
    assert kinds.count("memory") == 1
    stack.app.delete(f"/chat/{user}")


def test_a_key_past_its_rate_gets_429_with_retry_after(stack: RunningStack, user: str) -> None:
    headers = {"Authorization": f"Bearer {LIMITED}"}
    answers = [stack.app.get(f"/chat/{user}", headers=headers) for _ in range(60)]
    refused = [a for a in answers if a.status_code == 429]
    assert refused, [a.status_code for a in answers]
    assert refused[0].json()["code"] == "rate_limited"
    assert int(refused[0].headers["Retry-After"]) >= 1
    # another key has its own bucket
    assert stack.app.get(f"/chat/{user}").status_code == 200


def test_sessions_are_listed_newest_first_and_unlisted_by_delete(stack: RunningStack) -> None:
    users = [f"s{i}{uuid.uuid4().hex[:8]}" for i in range(3)]
    for user in users:
        chat(stack.app, user, "hello")
    listed = stack.app.get("/sessions", params={"limit": 2}).json()
    assert [s["id"] for s in listed["sessions"]] == users[::-1][:2]
    assert listed["sessions"][0]["turns"] == 1
    rest = stack.app.get("/sessions", params={"limit": 2, "after": listed["next_after"]}).json()
    assert rest["sessions"][0]["id"] == users[0]
    stack.app.delete(f"/chat/{users[2]}")
    ids = [s["id"] for s in stack.app.get("/sessions", params={"limit": 50}).json()["sessions"]]
    assert users[2] not in ids
    assert users[1] in ids
    # the list spans every user: a key bound to some users may not read it
    headers = {"Authorization": f"Bearer {BOUND}"}
    assert stack.app.get("/sessions", headers=headers).status_code == 403
    for user in users[:2]:
        stack.app.delete(f"/chat/{user}")
    # a shard of the index that everyone left is deleted, not kept as an empty key
    for key in stack.redis.scan_iter("*sessions|b|*"):
        shard = json.loads(stack.redis.hget(key, "data") or "{}")
        assert shard.get("users"), key


def test_daprd_has_no_bulk_read_of_actor_state(stack: RunningStack, user: str) -> None:
    """Why a listing reads the ``meta`` of each conversation it shows on its own
    (store/session_index.py): daprd's actor state API reads one key of one actor, and its
    state API's bulk read, which prefixes keys with the app id as the actor keys are
    (``agent-actors||ChatAgent||<id>||meta``), refuses any key that holds "||"."""
    chat(stack.app, user, "hello")
    saved = stack.daprd.get(f"/v1.0/actors/ChatAgent/{user}/state/meta")
    assert saved.status_code == 200, saved.text
    assert saved.json()["turns"] == 1
    bulk = stack.daprd.post(
        f"/v1.0/state/{stack.settings.dapr.state_store}/bulk",
        json={"keys": [f"ChatAgent||{user}||meta"]},
    )
    assert bulk.status_code == 400, bulk.text
    assert "can't contain '||'" in bulk.text
    stack.app.delete(f"/chat/{user}")


def indexed_bucket(stack: RunningStack, user: str) -> int:
    raw = stack.redis.hget(f"agent-actors||ChatAgent||{user}||meta", "data")
    assert raw is not None
    bucket: int = json.loads(raw)["indexed_bucket"]
    return bucket


def listed_in(stack: RunningStack, bucket: int) -> set[str]:
    users: set[str] = set()
    for key in stack.redis.scan_iter(f"agent-actors||sessions|b|{bucket}|*"):
        users |= set(json.loads(stack.redis.hget(key, "data") or "{}").get("users", {}))
    return users


def all_listed(stack: RunningStack) -> list[str]:
    """Every id /sessions lists, following next_after to the end."""
    ids: list[str] = []
    after = None
    for _ in range(100):
        params: dict[str, Any] = {"limit": 200, **({"after": after} if after else {})}
        page = stack.app.get("/sessions", params=params).json()
        ids += [s["id"] for s in page["sessions"]]
        after = page["next_after"]
        if after is None:
            return ids
    raise AssertionError(f"/sessions still had a next_after after 100 pages: {ids}")


@contextmanager
def bucket_writes_refused(r: redis.Redis, bucket: int) -> Iterator[None]:
    """Redis refuses writes to one session-index bucket's shards (an ACL); every other key,
    the newer buckets' included, stays writable."""
    writable = [
        "agent-actors||ChatAgent||*",
        "agent-actors||ResponseAgent||*",
        "agent-actors||MemoryAgentActor||*",
        "agent-actors||dead-letters|*",
        "agent-actors||sessions|day|*",
        "user-chat*",
        *(f"agent-actors||sessions|b|{b}|*" for b in range(bucket + 1, bucket + 120)),
    ]
    patterns = [f"%RW~{p}" for p in writable]
    r.execute_command("ACL", "SETUSER", "default", "resetkeys", "%R~*", *patterns)
    try:
        yield
    finally:
        r.execute_command("ACL", "SETUSER", "default", "resetkeys", "~*")


def test_a_failed_move_between_buckets_lists_no_orphan(stack: RunningStack, user: str) -> None:
    """The conversation moves to a newer bucket while Redis refuses its removal from the old
    one: it is listed once, and not at all once deleted."""
    chat(stack.app, user, "first")
    old = indexed_bucket(stack, user)
    with bucket_writes_refused(stack.redis, old):
        later = eventually(time.time, lambda now: now // INDEX_BUCKET_S > old)
        assert later // INDEX_BUCKET_S > old
        chat(stack.app, user, "second")
    assert user in listed_in(stack, old)  # the removal did fail: an orphan is left
    assert any(user in listed_in(stack, b) for b in range(old + 1, old + 120))
    listed = all_listed(stack).count(user)
    assert stack.app.delete(f"/chat/{user}").status_code == 204
    still = user in all_listed(stack)
    assert (listed, still) == (1, False), "listed that many times, and still after DELETE"
    assert user not in listed_in(stack, old)  # the orphan was repaired, not only hidden


def hgetall_calls(r: redis.Redis) -> int:
    stats: dict[str, Any] = r.info("commandstats")
    return int(stats.get("cmdstat_hgetall", {}).get("calls", 0))


def add_empty_buckets(stack: RunningStack, buckets: range) -> None:
    """Day keys that name ``buckets`` whose shards are all gone: what the index's history
    leaves once every user of those buckets moved on or was deleted."""
    store = f"/v1.0/state/{stack.settings.dapr.state_store}"
    days: dict[float, list[int]] = {}
    for b in buckets:
        days.setdefault(b * INDEX_BUCKET_S // 86400, []).append(b)
    for day, extra in days.items():
        key = f"sessions|day|{day}"
        got = stack.daprd.get(f"{store}/{key}")
        known = got.json()["buckets"] if got.status_code == 200 else []
        item: dict[str, Any] = {"key": key, "value": {"buckets": known + extra}}
        if got.headers.get("ETag"):
            item |= {"etag": got.headers["ETag"], "options": {"concurrency": "first-write"}}
        saved = stack.daprd.post(store, json=[item])
        assert saved.status_code == 204, saved.text


def test_a_sessions_page_reads_a_bounded_number_of_keys(stack: RunningStack) -> None:
    """A thousand empty buckets (16 shards each) lie below the sessions: each page reads a
    bounded number of keys, and next_after leads past them to the end."""
    users = [f"k{i}{uuid.uuid4().hex[:8]}" for i in range(3)]
    for user in users:
        chat(stack.app, user, "hello")
    newest = int((time.time() - 700) // INDEX_BUCKET_S)
    add_empty_buckets(stack, range(newest - 1000, newest))
    bound = stack.settings.limits.index_page_keys + 200 + 16 + 30 + 50
    reads: list[int] = []
    ids: list[str] = []
    after = None
    for _ in range(100):
        before = hgetall_calls(stack.redis)
        params: dict[str, Any] = {"limit": 200, **({"after": after} if after else {})}
        resp = stack.app.get("/sessions", params=params)
        reads.append(hgetall_calls(stack.redis) - before)
        assert resp.status_code == 200, resp.text
        ids += [s["id"] for s in resp.json()["sessions"]]
        after = resp.json()["next_after"]
        if after is None:
            break
    assert after is None, f"still a next_after after {len(reads)} pages"
    assert max(reads) <= bound, f"keys read per page: {reads}"
    assert [ids.count(u) for u in users] == [1, 1, 1]
    # the empty buckets crossed are gone from their day keys: the next walk is one page
    assert stack.app.get("/sessions", params={"limit": 200}).json()["next_after"] is None
    for user in users:
        stack.app.delete(f"/chat/{user}")
