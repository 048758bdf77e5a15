"""The dead-letter store on its in-memory twin (versions as ETags, like Dapr's Redis store)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from agent_actors.errors import StoreUnavailable
from agent_actors.store.dead_letters import (
    DaprStateStore,
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


class ScriptedSidecar:
    """daprd's state API for one key: reads answer what is stored, each save answers the next
    scripted status (2xx: stored)."""

    def __init__(self, saves: list[int], stored: Any = None) -> None:
        self.saves = saves
        self.stored = stored
        self.version = 0 if stored is None else 1
        self.saved = 0

    async def request(
        self, method: str, path: str, body: bytes | None = None, headers: Any = None
    ) -> tuple[int, bytes]:
        assert body is not None
        if path.endswith("/bulk"):
            key = json.loads(body)["keys"][0]
            item: dict[str, Any] = {"key": key}
            if self.stored is not None:
                item |= {"data": self.stored, "etag": str(self.version)}
            return 200, json.dumps([item]).encode()
        self.saved += 1
        status = self.saves.pop(0)
        if status < 300:
            self.stored, self.version = json.loads(body)[0]["value"], self.version + 1
        return status, b'{"errorCode": "ERR_STATE_SAVE"}'


def dapr_letters(sidecar: ScriptedSidecar) -> DeadLetterStore:
    return DeadLetterStore(DaprStateStore(sidecar, "statestore"), kept=5, backoff_s=0)  # type: ignore[arg-type]


async def test_a_failed_etag_write_is_raised_at_once_not_retried_as_a_conflict() -> None:
    sidecar = ScriptedSidecar(saves=[500] * 16, stored={"letters": [], "total": 0})
    with pytest.raises(StoreUnavailable, match="500"):
        await dapr_letters(sidecar).record("u1", letter(1))
    assert sidecar.saved == 1


@pytest.mark.parametrize("conflict", [409, 412])
async def test_an_etag_conflict_is_read_again_and_retried(conflict: int) -> None:
    sidecar = ScriptedSidecar(saves=[conflict, 204], stored={"letters": [], "total": 0})
    await dapr_letters(sidecar).record("u1", letter(1))
    assert sidecar.saved == 2
    assert sidecar.stored["total"] == 1


async def test_a_lost_creation_race_is_a_conflict_a_failed_creation_is_not() -> None:
    # Redis's store answers a second creator (first-write, no ETag) with a plain save error.
    class LostRace(ScriptedSidecar):
        async def request(
            self, method: str, path: str, body: bytes | None = None, headers: Any = None
        ) -> tuple[int, bytes]:
            if not path.endswith("/bulk") and self.saved == 0:
                self.stored, self.version = {"letters": [], "total": 7}, 1
            return await super().request(method, path, body, headers)

    won = LostRace(saves=[500, 204])
    await dapr_letters(won).record("u1", letter(1))
    assert (won.saved, won.stored["total"]) == (2, 8)

    failed = ScriptedSidecar(saves=[500] * 16)
    with pytest.raises(StoreUnavailable, match="500"):
        await dapr_letters(failed).record("u1", letter(1))
    assert failed.saved == 1
