"""Conversations as sessions: delete, retention, the turn bound, the export (twins)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agent_actors.actors.interfaces import ExportQuery, MemoryAgentInterface, TurnRequest
from agent_actors.actors.outbox import OUTBOX_REMINDER
from agent_actors.actors.proxies import ChatAgentClient, MemoryAgentClient
from agent_actors.actors.retention import RETENTION_REMINDER
from agent_actors.actors.turn_record import TURN_KEY
from agent_actors.api.ratelimit import RateLimiter
from agent_actors.errors import InvalidInput, RateLimited, ResponderError, TurnLimitReached
from agent_actors.events.task_messages import DelegationTask
from agent_actors.llm.responder import ReplyContext, ReplyRequest
from agent_actors.models import ActorTypes, CallRecord
from agent_actors.settings import LimitSettings, Settings
from agent_actors.sidecar.boundary import unwrap
from agent_actors.store.dead_letters import DeadLetter, InMemoryStateStore
from agent_actors.store.session_index import (
    IndexEntry,
    IndexShard,
    SessionIndex,
    _parse_cursor,
)
from agent_actors.store.task_letters import TaskLetter, TaskLetterStore
from tests.unit.twins import LocalActors, make_deps

USER = "u1"


def settings(**limits: object) -> Settings:
    return Settings(limits=LimitSettings(**limits))  # type: ignore[arg-type]


def state_of(actors: object, actor_type: str, actor_id: str) -> dict[str, object]:
    state: dict[str, object] = actors.actor(actor_type, actor_id)._state_manager._mock_state  # type: ignore[attr-defined]
    return state


def reminders_of(actors: object, actor_type: str, actor_id: str) -> dict[str, object]:
    found: dict[str, object] = actors.actor(actor_type, actor_id)._state_manager._mock_reminders  # type: ignore[attr-defined]
    return found


async def chat(actors: object, n: int, prefix: str = "m") -> list[int]:
    client = ChatAgentClient(actors, USER)  # type: ignore[arg-type]
    from agent_actors.actors.interfaces import TurnRequest

    return [
        (await client.process_message(TurnRequest(content=f"{prefix}{i}"))).seq for i in range(n)
    ]


async def deliver(actors: object, event: object) -> dict[str, object]:
    proxy = actors.create(ActorTypes.MEMORY, USER, MemoryAgentInterface)  # type: ignore[attr-defined]
    result: dict[str, object] = unwrap(
        await proxy.UpdateMemory(event.model_dump(mode="json"))  # type: ignore[attr-defined]
    )
    return result


async def test_delete_erases_every_actor_and_the_next_turn_is_seq_1() -> None:
    _, actors, publisher = make_deps(settings(history_page_size=4))
    await chat(actors, 5)
    for event in publisher.published:
        await deliver(actors, event)
    assert state_of(actors, ActorTypes.MEMORY, USER)
    old_events = list(publisher.published)
    client = ChatAgentClient(actors, USER)  # type: ignore[arg-type]
    await client.delete()
    await client.delete()  # idempotent
    assert state_of(actors, ActorTypes.CHAT, USER) == {}
    assert state_of(actors, ActorTypes.RESPONSE, USER) == {}
    assert state_of(actors, ActorTypes.MEMORY, USER) == {}
    assert OUTBOX_REMINDER not in reminders_of(actors, ActorTypes.CHAT, USER)
    # a late event of the deleted conversation resurrects nothing
    assert (await deliver(actors, old_events[0]))["status"] == "stale"
    assert state_of(actors, ActorTypes.MEMORY, USER) == {}
    assert await chat(actors, 1, "new") == [1]
    # ...nor once a new conversation exists: its seq 2 is not the old seq 2
    assert (await deliver(actors, old_events[1]))["status"] == "stale"
    assert (await deliver(actors, publisher.published[-1]))["status"] == "applied"
    window = await MemoryAgentClient(actors, USER).window()  # type: ignore[arg-type]
    assert next(m.content for m in window) == "new0"
    assert (await client.summary()).turns == 1


async def test_the_turn_bound_is_a_409_until_the_conversation_is_deleted() -> None:
    _, actors, _ = make_deps(settings(max_turns=2))
    await chat(actors, 2)
    with pytest.raises(TurnLimitReached):
        await chat(actors, 1)
    await ChatAgentClient(actors, USER).delete()  # type: ignore[arg-type]
    assert await chat(actors, 1) == [1]


async def test_the_export_pages_carry_seq_and_commit_time() -> None:
    _, actors, _ = make_deps(settings(history_page_size=4))
    await chat(actors, 5)
    client = ChatAgentClient(actors, USER)  # type: ignore[arg-type]
    first = await client.export_entries(ExportQuery(start=0, limit=7))
    rest = await client.export_entries(ExportQuery(start=7, limit=7))
    entries = first.entries + rest.entries
    assert first.total == 10
    assert len(entries) == 10
    assert [e.index for e in entries] == list(range(10))
    assert [e.seq for e in entries] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert [e.content for e in entries[::2]] == [f"m{i}" for i in range(5)]
    assert all(e.at is not None for e in entries)


async def fire_retention(actors: LocalActors) -> None:
    """The retention reminder, as daprd delivers it: under the actor's turn lock."""
    agent = actors.actor(ActorTypes.CHAT, USER)
    async with actors.locks[(ActorTypes.CHAT, USER)]:
        await agent.receive_reminder(RETENTION_REMINDER, b"{}", None, None)
        await agent._state_manager.save_state()


async def test_retention_erases_an_idle_conversation_and_rearms_for_an_active_one() -> None:
    deps, actors, _ = make_deps(settings(retention_s=100.0))
    now = [time.time()]
    deps.clock = lambda: now[0]
    await chat(actors, 2)
    assert RETENTION_REMINDER in reminders_of(actors, ActorTypes.CHAT, USER)
    assert state_of(actors, ActorTypes.CHAT, USER)["meta"]["retention_armed"] is True  # type: ignore[index]
    # fires while the conversation is active: re-armed for the rest, nothing erased
    now[0] += 60
    await fire_retention(actors)
    assert state_of(actors, ActorTypes.CHAT, USER)["meta"]["turns"] == 2  # type: ignore[index]
    due = reminders_of(actors, ActorTypes.CHAT, USER)[RETENTION_REMINDER].due_time
    assert due == timedelta(seconds=40)
    # idle past the retention: erased like a delete
    now[0] += 41
    await fire_retention(actors)
    assert state_of(actors, ActorTypes.CHAT, USER) == {}
    assert state_of(actors, ActorTypes.RESPONSE, USER) == {}
    assert RETENTION_REMINDER not in reminders_of(actors, ActorTypes.CHAT, USER)


class FailingModel:
    """Every reply fails, after a model call that is recorded (as a real one is)."""

    async def reply(self, request: ReplyRequest, context: ReplyContext) -> str:
        at = datetime.now(UTC)
        context.calls.record(CallRecord(seq=request.seq, at=at, model="m", status="error"))
        raise ResponderError("the model is down")


async def test_a_conversation_whose_only_turn_failed_is_armed_and_erased() -> None:
    deps, actors, _ = make_deps(settings(retention_s=100.0))
    deps.responder = FailingModel()
    with pytest.raises(ResponderError):
        await chat(actors, 1)
    # nothing of the turn in ChatAgent, but its model call's record: retention is armed
    assert state_of(actors, ActorTypes.CHAT, USER) == {}
    assert "calls-meta" in state_of(actors, ActorTypes.RESPONSE, USER)
    assert RETENTION_REMINDER in reminders_of(actors, ActorTypes.CHAT, USER)
    await fire_retention(actors)
    assert state_of(actors, ActorTypes.RESPONSE, USER) == {}
    assert RETENTION_REMINDER not in reminders_of(actors, ActorTypes.CHAT, USER)


async def test_a_failed_long_turn_is_activity_then_erased_with_its_records() -> None:
    deps, actors, _ = make_deps(settings(retention_s=100.0))
    deps.responder = FailingModel()
    now = [time.time()]
    deps.clock = lambda: now[0]
    client = ChatAgentClient(actors, USER)  # type: ignore[arg-type]
    started = await client.start_turn(TurnRequest(content="later?"))
    assert started.turn is not None
    while (run := deps.runs.get(USER)) is not None:
        await asyncio.wait({run.task})
    assert (await client.turn(1)).status == "failed"
    assert RETENTION_REMINDER in reminders_of(actors, ActorTypes.CHAT, USER)
    # 50 s after the turn started: not idle long enough, re-armed, nothing erased
    now[0] += 50
    await fire_retention(actors)
    assert TURN_KEY in state_of(actors, ActorTypes.CHAT, USER)
    assert RETENTION_REMINDER in reminders_of(actors, ActorTypes.CHAT, USER)
    now[0] += 60
    await fire_retention(actors)
    assert state_of(actors, ActorTypes.CHAT, USER) == {}
    assert state_of(actors, ActorTypes.RESPONSE, USER) == {}


async def test_retention_and_delete_erase_the_users_dead_letters() -> None:
    deps, actors, _ = make_deps(settings(retention_s=100.0))
    now = [time.time()]
    deps.clock = lambda: now[0]
    for erase in ("retention", "delete"):
        await chat(actors, 1)
        await deps.dead_letters.record(USER, DeadLetter(seq=1, at=datetime.now(UTC)))
        assert (await deps.dead_letters.user(USER)).letters
        if erase == "retention":
            now[0] += 101
            await fire_retention(actors)
        else:
            await ChatAgentClient(actors, USER).delete()  # type: ignore[arg-type]
        assert (await deps.dead_letters.user(USER)).letters == [], erase
        assert state_of(actors, ActorTypes.CHAT, USER) == {}, erase


def test_the_token_bucket_refuses_past_the_burst_with_retry_after() -> None:
    now = [0.0]
    limiter = RateLimiter(2.0, 3, clock=lambda: now[0])
    for _ in range(3):
        limiter.take("k")
    with pytest.raises(RateLimited) as refused:
        limiter.take("k")
    assert refused.value.retry_after_s == 1
    assert refused.value.status == 429
    limiter.take("other")  # per key
    now[0] += 0.5  # one token back at 2/s
    limiter.take("k")
    with pytest.raises(RateLimited):
        limiter.take("k")


class Conversations:
    """ChatAgent's saved ``meta`` per user, as the index reads it (daprd's actor state API)."""

    def __init__(self) -> None:
        self.metas: dict[str, dict[str, object]] = {}

    def exist(self, user: str, created_at: float, bucket: int) -> None:
        self.metas[user] = {"turns": 1, "created_at": created_at, "indexed_bucket": bucket}

    async def load(self, actor_type: str, actor_id: str, key: str) -> tuple[bool, object]:
        assert (actor_type, key) == (ActorTypes.CHAT, "meta")
        meta = self.metas.get(actor_id)
        return (meta is not None, meta)


class CountingStore(InMemoryStateStore):
    """Counts the keys read, and the round trips (a bulk read is one, as daprd answers it)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.trips = 0

    async def get(self, key: str) -> tuple[Any, str | None]:
        self.reads += 1
        self.trips += 1
        return await super().get(key)

    async def get_many(self, keys: list[str]) -> list[Any]:
        found = [(await self.get(key))[0] for key in keys]
        self.trips -= len(keys) - 1
        return found


def index_of(
    store: InMemoryStateStore, conversations: Conversations, **limits: Any
) -> SessionIndex:
    limits = {"index_bucket_s": 60, "index_shards": 3, **limits}
    return SessionIndex(store, LimitSettings(**limits), conversations.load)


async def listed(index: SessionIndex, now: float, limit: int = 10) -> list[str]:
    return [s.id for s in (await index.page(limit, None, now)).sessions]


async def test_the_index_pages_newest_first_and_moves_a_user_between_buckets() -> None:
    store, conversations = InMemoryStateStore(), Conversations()
    index = index_of(store, conversations)
    now = 10 * 86400.0
    buckets = {}
    for i in range(7):  # one user per bucket, across a day boundary
        at = now - i * 20000
        buckets[f"u{i}"] = await index.add(
            f"u{i}", IndexEntry(created_at=at, last_activity=at, turns=i)
        )
        conversations.exist(f"u{i}", at, buckets[f"u{i}"])
    first = await index.page(3, None, now)
    assert [s.id for s in first.sessions] == ["u0", "u1", "u2"]
    second = await index.page(3, first.next_after, now)
    third = await index.page(3, second.next_after, now)
    assert [s.id for s in second.sessions + third.sessions] == ["u3", "u4", "u5", "u6"]
    assert third.next_after is None
    # u5 is active again: it moves to the newest bucket, listed once
    created = now - 5 * 20000
    moved = await index.add("u5", IndexEntry(created_at=created, last_activity=now + 1, turns=9))
    conversations.exist("u5", created, moved)
    await index.remove("u5", buckets["u5"])
    assert (await listed(index, now + 1))[:2] == ["u5", "u0"]
    assert len(await listed(index, now + 1)) == 7
    await index.remove("u5", index.bucket(now + 1))
    assert "u5" not in await listed(index, now + 1)
    # no shard key is left holding nobody (u5's two buckets held only u5)
    shards = {k: v for k, (v, _) in store.items.items() if k.startswith("sessions|b|")}
    assert len(shards) == 6
    assert all(v["users"] for v in shards.values())


async def test_an_orphan_is_never_listed_and_is_repaired() -> None:
    """A removal from the old bucket that failed, then a delete: neither the orphan nor the
    deleted conversation is listed, and the orphan's entry is removed by the listing."""
    store, conversations = InMemoryStateStore(), Conversations()
    index = index_of(store, conversations)
    now = 10 * 86400.0
    old = await index.add("u1", IndexEntry(created_at=now - 600, last_activity=now - 600, turns=1))
    new = await index.add("u1", IndexEntry(created_at=now - 600, last_activity=now, turns=2))
    conversations.exist("u1", now - 600, new)  # the move recorded; the removal never ran
    await index.add("u2", IndexEntry(created_at=now - 900, last_activity=now - 900, turns=1))
    conversations.exist("u2", now - 900, index.bucket(now - 900))
    assert await listed(index, now) == ["u1", "u2"]
    assert not any("u1" in v["users"] for k, (v, _) in store.items.items() if str(old) in k)
    # deleted: meta is gone (its current bucket's entry went first), the other one stays
    await index.remove("u1", new)
    await index.add("u1", IndexEntry(created_at=now - 600, last_activity=now - 600, turns=1))
    del conversations.metas["u1"]
    assert await listed(index, now) == ["u2"]
    # a new conversation of the same user is not the old entry's
    conversations.exist("u1", now - 5, 0)
    await index.add("u1", IndexEntry(created_at=now - 600, last_activity=now - 600, turns=1))
    assert await listed(index, now) == ["u2"]


async def test_a_page_reads_a_bounded_number_of_keys_past_empty_buckets() -> None:
    store, conversations = CountingStore(), Conversations()
    index = index_of(store, conversations, index_page_keys=100)
    today = 10 * 86400.0
    now = today + 80000
    at = today - 1000  # the day before, below 1000 empty buckets of today
    bucket = await index.add("old", IndexEntry(created_at=at, last_activity=at, turns=1))
    conversations.exist("old", at, bucket)
    # (older than PRUNE_AFTER_S: nobody adds to them any more)
    empty = list(range(index.bucket(now) - 1020, index.bucket(now) - 20))
    await store.put("sessions|day|10.0", {"buckets": empty}, None)
    found: list[str] = []
    reads: list[int] = []
    after: str | None = None
    while len(reads) < 100:
        store.reads = 0
        page = await index.page(10, after, now)
        reads.append(store.reads)
        found += [s.id for s in page.sessions]
        after = page.next_after
        if after is None:
            break
    assert found == ["old"]
    # 100 keys, and the bucket it may finish (3 shards), or the entries it may check
    assert max(reads) <= 100 + 3, reads
    assert len(reads) > 10
    # the empty buckets crossed left today's day key: the next walk is one page
    assert (await index.page(10, None, now)).next_after is None
    assert (await store.get("sessions|day|10.0"))[0] == {"buckets": []}


async def test_an_empty_index_is_listed_in_a_few_round_trips() -> None:
    """Every conversation deleted (or none yet): a listing looks back over the whole horizon
    (30 days); it reads the days' keys at once, not one round trip a day (W9 measured ~30
    sequential reads through daprd, 150-300 ms, for a page of nothing)."""
    store, conversations = CountingStore(), Conversations()
    index = index_of(store, conversations)
    now = 10 * 86400.0 + 5000
    page = await index.page(50, None, now)
    assert page.sessions == []
    assert page.next_after is None
    assert store.trips <= 2, store.trips
    # one bucket of today, left empty by its users' deletes (pruned only after PRUNE_AFTER_S)
    at = now - 30
    bucket = await index.add("u1", IndexEntry(created_at=at, last_activity=at, turns=1))
    await index.remove("u1", bucket)
    store.trips = 0
    assert (await index.page(50, None, now)).sessions == []
    assert store.trips <= 3, store.trips


async def test_a_page_validates_only_the_entries_it_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A thousand users active in the newest bucket: a page of 10 parses the 10 it checks,
    not the whole bucket (W9: validating 3,000 entries with pydantic was most of a page's
    CPU), and the next page goes on where it stopped."""
    store, conversations = InMemoryStateStore(), Conversations()
    index = index_of(store, conversations)
    now = 10 * 86400.0 + 5000
    users = [f"u{i:04}" for i in range(1000)]
    for i, user in enumerate(users):
        at = now - 50 + i * 0.01
        bucket = await index.add(user, IndexEntry(created_at=at, last_activity=at, turns=1))
        conversations.exist(user, at, bucket)
    validated = 0
    entry, shard = IndexEntry.model_validate, IndexShard.model_validate

    def one(raw: Any) -> IndexEntry:
        nonlocal validated
        validated += 1
        return entry(raw)

    def whole(raw: Any) -> IndexShard:
        nonlocal validated
        validated += len(raw.get("users", {}))
        return shard(raw)

    monkeypatch.setattr(IndexEntry, "model_validate", one)
    monkeypatch.setattr(IndexShard, "model_validate", whole)
    first = await index.page(10, None, now)
    assert [s.id for s in first.sessions] == users[::-1][:10]
    assert validated == 10
    second = await index.page(10, first.next_after, now)
    assert [s.id for s in second.sessions] == users[::-1][10:20]


async def test_entries_of_one_time_are_paged_by_user() -> None:
    store, conversations = InMemoryStateStore(), Conversations()
    index = index_of(store, conversations)
    now = 10 * 86400.0 + 5000
    times = {"a": now - 2, "b": now - 1, "c": now - 2, "d": now - 1, "e": now - 3}
    for user, at in times.items():
        bucket = await index.add(user, IndexEntry(created_at=at, last_activity=at, turns=1))
        conversations.exist(user, at, bucket)
    found: list[str] = []
    after = None
    for _ in range(10):
        page = await index.page(2, after, now)
        found += [s.id for s in page.sessions]
        after = page.next_after
        if after is None:
            break
    assert found == ["d", "b", "c", "a", "e"]


async def test_an_empty_shard_written_meanwhile_is_kept() -> None:
    store = InMemoryStateStore()
    await store.put("k", {"users": {}}, None)
    _, etag = await store.get("k")
    await store.put("k", {"users": {"u1": {}}}, etag)  # a user moved in after the read
    assert await store.delete("k", etag) is False
    assert (await store.get("k"))[0] == {"users": {"u1": {}}}


def test_a_cursor_names_a_thread() -> None:
    """An agent's thread is indexed under its thread id, which a page's cursor may end on."""
    assert _parse_cursor("12.5:s1~support") == (12.5, "s1~support")
    for bad in ("12.5:s1~no/such", "12.5:~support", "12.5:s1~"):
        with pytest.raises(InvalidInput, match="next_after"):
            _parse_cursor(bad)


async def test_a_conversation_is_listed_after_its_turn_and_unlisted_by_its_delete() -> None:
    deps, actors, _ = make_deps()
    await chat(actors, 2)
    assert deps.sessions is not None
    listed = (await deps.sessions.page(10, None, time.time())).sessions
    assert [(s.id, s.turns) for s in listed] == [(USER, 1)]  # indexed at the first turn
    await ChatAgentClient(actors, USER).delete()  # type: ignore[arg-type]
    assert (await deps.sessions.page(10, None, time.time())).sessions == []


async def test_a_one_turn_conversation_is_armed_while_the_breaker_is_open() -> None:
    """Another user's reminder registration failed just now (the breaker is shared by the
    process): the turn's commit still arms retention, or with no further turn nothing would
    ever erase the conversation (found in review)."""
    deps, actors, _ = make_deps(settings(retention_s=60.0))
    deps.reminders.trip()
    assert await chat(actors, 1) == [1]
    meta = state_of(actors, ActorTypes.CHAT, USER)["meta"]
    assert meta["retention_armed"] is True  # type: ignore[index]
    assert RETENTION_REMINDER in reminders_of(actors, ActorTypes.CHAT, USER)


async def test_a_turn_waits_for_a_hung_scheduler_once_at_most() -> None:
    """Retention is tried before the reply and at the commit: with the scheduler hanging, a
    turn waits on it once at most (found in review: the first turn waited twice). Until one
    registration succeeds, each turn tries once: a conversation that never has another turn
    must still be erased."""
    _, actors, _ = make_deps(settings(retention_s=3600.0, post_commit_timeout_s=0.2))
    waits: list[str] = []

    async def hang(name: str, *_args: object) -> None:
        waits.append(name)
        await asyncio.sleep(3600)

    actors.actor(ActorTypes.CHAT, USER).register_reminder = hang  # type: ignore[attr-defined]
    assert await chat(actors, 3) == [1, 2, 3]
    assert waits.count(RETENTION_REMINDER) == 3


async def test_the_commit_arms_retention_when_the_breaker_made_the_turn_skip_it() -> None:
    deps, actors, _ = make_deps(settings(retention_s=60.0))
    deps.reminders.trip()
    attempts: list[str] = []
    actor = actors.actor(ActorTypes.CHAT, USER)  # type: ignore[attr-defined]
    register = actor.register_reminder

    async def counted(name: str, *args: object) -> None:
        attempts.append(name)
        await register(name, *args)

    actor.register_reminder = counted
    assert await chat(actors, 1) == [1]
    # skipped before the reply (breaker), registered once at the commit
    assert attempts.count(RETENTION_REMINDER) == 1
    assert RETENTION_REMINDER in reminders_of(actors, ActorTypes.CHAT, USER)


def kept_task(task_id: str, caller: str, delegate: str) -> TaskLetter:
    task = DelegationTask(
        task_id=task_id,
        session=USER,
        delegate=delegate,
        text=f"the text of {task_id}",
        caller=caller,
        caller_seq=1,
        deadline=time.time(),
    )
    return TaskLetter(task=task, at=datetime.now(UTC), reason="not answered")


async def test_erasing_a_thread_erases_the_kept_tasks_it_sent_or_was_sent() -> None:
    """A dead-lettered task keeps its text: retention (or a DELETE ?agent=) of the thread that
    sent it, or was to answer it, erases it, as it erases the thread's other dead letters;
    otherwise a session whose threads retention erased kept the texts for ever."""
    deps, actors, _ = make_deps(settings(retention_s=100.0))
    deps.task_letters = TaskLetterStore(InMemoryStateStore(), kept=100)
    now = [time.time()]
    deps.clock = lambda: now[0]
    for letter in (
        kept_task("t1", "coordinator", "billing"),
        kept_task("t2", "coordinator", "shipping"),
        kept_task("t3", "billing", "assistant"),
    ):
        await deps.task_letters.record(letter)
    billing = ChatAgentClient(actors, f"{USER}~billing")  # type: ignore[arg-type]
    await billing.process_message(TurnRequest(content="refund?", agent="billing"))
    now[0] += 101
    agent = actors.actor(ActorTypes.CHAT, f"{USER}~billing")
    async with actors.locks[(ActorTypes.CHAT, f"{USER}~billing")]:
        await agent.receive_reminder(RETENTION_REMINDER, b"{}", None, None)
        await agent._state_manager.save_state()
    assert state_of(actors, ActorTypes.CHAT, f"{USER}~billing") == {}
    left = await deps.task_letters.of(USER)
    assert [x.task.task_id for x in left.letters] == ["t2"]
    # The session's own thread (the default agent's), by retention: the task it was sent.
    await deps.task_letters.record(kept_task("t4", "support", "assistant"))
    await chat(actors, 1)
    now[0] += 101
    await fire_retention(actors)
    left = await deps.task_letters.of(USER)
    assert [x.task.task_id for x in left.letters] == ["t2"]
    # A DELETE ?agent= of the one that sent the last: the session keeps no task's text.
    await ChatAgentClient(actors, f"{USER}~coordinator").delete()  # type: ignore[arg-type]
    assert deps.task_letters._store.items == {}  # type: ignore[attr-defined]
