"""The dead-letter store on its in-memory twin (versions as ETags, like Dapr's Redis store)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from agent_actors.errors import StoreUnavailable
from agent_actors.events.dead_letters import (
    DeadLetter,
    DeadLetterStore,
    InMemoryStateStore,
    UnparsedDeadLetter,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def letter(seq: int) -> DeadLetter:
    return DeadLetter(seq=seq, event_id=f"ev-{seq}", at=NOW)


class InterleavingStore(InMemoryStateStore):
    """Yields between a read and the write after it, so concurrent writers conflict."""

    async def get(self, key: str) -> tuple[Any, str | None]:
        found = await super().get(key)
        await asyncio.sleep(0)
        return found


async def test_a_users_letters_are_kept_by_seq_once_newest_last_and_bounded() -> None:
    store = DeadLetterStore(InMemoryStateStore(), kept=3)
    for seq in (1, 2, 2, 3, 4):
        await store.record("u1", letter(seq))
    log = await store.user("u1")
    assert [x.seq for x in log.letters] == [2, 3, 4]
    assert log.total == 4
    assert (await store.user("u2")).letters == []


async def test_concurrent_dead_letters_of_one_user_are_all_kept() -> None:
    store = DeadLetterStore(InterleavingStore(), kept=100)
    await asyncio.gather(*(store.record("u1", letter(seq)) for seq in range(1, 11)))
    assert sorted(x.seq for x in (await store.user("u1")).letters) == list(range(1, 11))


async def test_mark_replayed_marks_only_what_memory_now_has() -> None:
    store = DeadLetterStore(InMemoryStateStore(), kept=10)
    for seq in (2, 5, 9):
        await store.record("u1", letter(seq))
    assert await store.mark_replayed("u1", up_to=5, at=NOW) == [2, 5]
    assert await store.mark_replayed("u1", up_to=5, at=NOW) == []
    replayed = {x.seq: x.replayed_at for x in (await store.user("u1")).letters}
    assert replayed == {2: NOW, 5: NOW, 9: None}


async def test_unparsed_letters_are_one_bounded_list() -> None:
    store = DeadLetterStore(InMemoryStateStore(), kept=2)
    for i in range(3):
        await store.record_unparsed(UnparsedDeadLetter(event_id=str(i), at=NOW, reason="seq"))
    unparsed = await store.unparsed()
    assert [x.event_id for x in unparsed.letters] == ["1", "2"]
    assert unparsed.total == 3


async def test_a_failing_store_is_store_unavailable() -> None:
    backing = InMemoryStateStore()
    backing.failing = True
    with pytest.raises(StoreUnavailable):
        await DeadLetterStore(backing, kept=2).record("u1", letter(1))


async def test_a_store_that_refuses_every_write_gives_up() -> None:
    class Refusing(InMemoryStateStore):
        async def put(self, key: str, value: Any, etag: str | None) -> bool:
            return False

    with pytest.raises(StoreUnavailable):
        await DeadLetterStore(Refusing(), kept=2, backoff_s=0).record("u1", letter(1))
