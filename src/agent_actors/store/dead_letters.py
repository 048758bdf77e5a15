"""Dead letters, kept in the state store through daprd's state API (not in process memory).

An event Dapr gave up on (still failing after the resiliency retries, or malformed) lands on
the dead-letter topic, and its route records it here: it stays visible across restarts and
can be replayed. A valid one is kept per user by seq only: its turn is in ChatAgent's history,
which a replay reads. An unparseable one goes to one bounded service-wide list, with why it
failed and never its content.

Why the state API and not MemoryAgentActor's own state: a dead letter is written exactly when
Memory could not be updated (its actor unreachable, its state failing), and must survive that.
Dead letters of one user arrive concurrently, so each write is a read-modify-write guarded by
the ETag (first-write concurrency), retried on a conflict.
"""

from __future__ import annotations

import asyncio
import json
import random
import urllib.parse
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, Field

from agent_actors.errors import StoreUnavailable
from agent_actors.settings import Settings
from agent_actors.sidecar import failures
from agent_actors.sidecar.client import Sidecar

# Conflicting writers of one key are one user's dead letters in flight at once (a burst when
# the same outage dead-letters several of its events): retried with a jittered backoff.
WRITE_ATTEMPTS = 16
UNPARSED_KEY = "dead-letters|unparsed"
# What daprd answers a write whose ETag no longer matches (ETagMismatch) or a failed If-Match.
CONFLICT_STATUSES = (409, 412)


def user_key(user_id: str) -> str:
    # '|' is not allowed in user ids (models.py): no user's key can equal UNPARSED_KEY.
    return f"dead-letters|user|{user_id}"


class DeadLetter(BaseModel):
    seq: int
    event_id: str | None = None
    at: datetime
    replayed_at: datetime | None = None


class UserDeadLetters(BaseModel):
    letters: list[DeadLetter] = Field(default_factory=list, description="the newest, oldest first")
    total: int = Field(0, description="dead letters ever recorded for this user")


class UnparsedDeadLetter(BaseModel):
    event_id: str | None = None
    type: str | None = None
    topic: str | None = None
    at: datetime
    reason: str = Field(description="why it could not be read (field names and error kinds)")


class UnparsedDeadLetters(BaseModel):
    letters: list[UnparsedDeadLetter] = Field(default_factory=list)
    total: int = 0


class VersionedStore(Protocol):
    """A key-value store with ETags: ``put`` with the ETag read is refused after a change."""

    async def get(self, key: str) -> tuple[Any, str | None]: ...

    async def put(self, key: str, value: Any, etag: str | None) -> bool:
        """Write ``key``; False when someone wrote it since the read that gave ``etag`` (a
        conflict: read again); any other failure raises ``StoreUnavailable``."""

    async def delete(self, key: str, etag: str | None = None) -> bool:
        """Remove ``key`` (absent: done too); with ``etag``, only if unchanged since read."""

    async def get_many(self, keys: list[str]) -> list[Any]: ...


M = TypeVar("M", bound=BaseModel)


class DeadLetterStore:
    def __init__(self, store: VersionedStore, kept: int, backoff_s: float = 0.005) -> None:
        self._store = store
        self._kept = kept
        self._backoff_s = backoff_s

    async def user(self, user_id: str) -> UserDeadLetters:
        raw, _ = await self._store.get(user_key(user_id))
        return UserDeadLetters() if raw is None else UserDeadLetters.model_validate(raw)

    async def unparsed(self) -> UnparsedDeadLetters:
        raw, _ = await self._store.get(UNPARSED_KEY)
        return UnparsedDeadLetters() if raw is None else UnparsedDeadLetters.model_validate(raw)

    async def forget(self, user_id: str) -> None:
        """Erase this user's dead letters (DELETE /chat/{id}); idempotent."""
        await self._store.delete(user_key(user_id))

    async def record(self, user_id: str, letter: DeadLetter) -> None:
        def add(log: UserDeadLetters) -> bool:
            # Dapr may deliver a dead letter twice: one entry per seq.
            if any(old.seq == letter.seq for old in log.letters):
                return False
            log.letters.append(letter)
            del log.letters[: max(0, len(log.letters) - self._kept)]
            log.total += 1
            return True

        await self._update(user_key(user_id), UserDeadLetters, add)

    async def record_unparsed(self, letter: UnparsedDeadLetter) -> None:
        def add(log: UnparsedDeadLetters) -> bool:
            log.letters.append(letter)
            del log.letters[: max(0, len(log.letters) - self._kept)]
            log.total += 1
            return True

        await self._update(UNPARSED_KEY, UnparsedDeadLetters, add)

    async def mark_replayed(self, user_id: str, up_to: int, at: datetime) -> list[int]:
        """Mark the letters up to seq ``up_to`` (now in memory) replayed; returns their seqs."""
        marked: list[int] = []

        def mark(log: UserDeadLetters) -> bool:
            marked.clear()
            for letter in log.letters:
                if letter.replayed_at is None and letter.seq <= up_to:
                    letter.replayed_at = at
                    marked.append(letter.seq)
            return bool(marked)

        await self._update(user_key(user_id), UserDeadLetters, mark)
        return marked

    async def _update(self, key: str, model: type[M], change: Callable[[M], bool]) -> None:
        await update_with_etag(self._store, key, model, change, self._backoff_s)


async def update_with_etag(
    store: VersionedStore,
    key: str,
    model: type[M],
    change: Callable[[M], bool],
    backoff_s: float = 0.005,
) -> None:
    """Read ``key``, apply ``change`` (False: nothing to write), write it back only if nobody
    wrote it meanwhile (its ETag); retried with jittered backoff when someone did."""
    for attempt in range(WRITE_ATTEMPTS):
        if attempt:
            await asyncio.sleep(random.uniform(0, backoff_s * 2 ** min(attempt, 6)))
        raw, etag = await store.get(key)
        value = model() if raw is None else model.model_validate(raw)
        if not change(value):
            return
        if await store.put(key, value.model_dump(mode="json"), etag):
            return
    raise StoreUnavailable(f"could not write {key!r}: it kept changing")


class DaprStateStore:
    """daprd's state API on the app's sidecar pool (keys get the app id as prefix)."""

    def __init__(self, sidecar: Sidecar, store_name: str) -> None:
        self._sidecar = sidecar
        self._path = f"/v1.0/state/{store_name}"

    async def get(self, key: str) -> tuple[Any, str | None]:
        # The bulk API answers with the ETag in the body (the single-key one, in a header).
        item = json.loads(await self._read([key]))[0]
        if item.get("error"):
            raise StoreUnavailable(f"reading {key!r} failed: {str(item['error'])[:200]}")
        return item.get("data"), item.get("etag") or None

    async def get_many(self, keys: list[str]) -> list[Any]:
        """The values of ``keys`` (None: absent) in one round trip, without ETags."""
        found = {item["key"]: item for item in json.loads(await self._read(keys))}
        for item in found.values():
            if item.get("error"):
                raise StoreUnavailable(f"reading {item['key']!r} failed: {item['error']!s:.200}")
        return [found.get(k, {}).get("data") for k in keys]

    async def put(self, key: str, value: Any, etag: str | None) -> bool:
        # first-write: with an ETag, a write after someone else's fails; without one (a new
        # key), a second creator fails once the first has written.
        item: dict[str, Any] = {
            "key": key,
            "value": value,
            "options": {"concurrency": "first-write"},
        }
        if etag is not None:
            item["etag"] = etag
        status, body = await self._request("POST", self._path, [item])
        if 200 <= status < 300:
            return True
        if status in CONFLICT_STATUSES:
            return False  # written since our read: read again
        if etag is None and status == 500 and (await self.get(key))[1] is not None:
            # Redis's store answers a lost creation race (first-write without an ETag) with a
            # plain save error, not a conflict: the key existing now is the other creator's.
            return False
        # Anything else is a failure, raised at once: retried as a conflict it cost 16 round
        # trips and the cause.
        raise failures.refused("POST", self._path, status, body)

    async def delete(self, key: str, etag: str | None = None) -> bool:
        # A missing key is a success (204), as for any delete of daprd's state API.
        path = f"{self._path}/{urllib.parse.quote(key, safe='')}"
        headers = None if etag is None else {"If-Match": etag}
        status, body = await self._sidecar.request("DELETE", path, None, headers)
        if etag is not None and status in CONFLICT_STATUSES:
            return False  # written meanwhile
        failures.ok("DELETE", path, status, body)
        return True

    async def _read(self, keys: list[str]) -> bytes:
        """The bulk API's answer for ``keys`` (each item: key, data, etag or error)."""
        path = f"{self._path}/bulk"
        status, body = await self._request("POST", path, {"keys": keys})
        return failures.ok("POST", path, status, body)

    async def _request(self, method: str, path: str, payload: Any) -> tuple[int, bytes]:
        # A failure to reach daprd is StoreUnavailable already (sidecar/failures.py).
        return await self._sidecar.request(method, path, json.dumps(payload).encode())


def dapr_dead_letters(sidecar: Sidecar, settings: Settings) -> DeadLetterStore:
    store = DaprStateStore(sidecar, settings.dapr.state_store)
    return DeadLetterStore(store, settings.limits.dead_letters_kept)


class InMemoryStateStore:
    """The twin for unit tests: versions as ETags, and it can be made to fail."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[Any, int]] = {}
        self.failing = False

    async def get(self, key: str) -> tuple[Any, str | None]:
        if self.failing:
            raise StoreUnavailable("the in-memory store is set to fail")
        value, version = self.items.get(key, (None, 0))
        return json.loads(json.dumps(value)), str(version) if version else None

    async def put(self, key: str, value: Any, etag: str | None) -> bool:
        if self.failing:
            raise StoreUnavailable("the in-memory store is set to fail")
        version = self.items.get(key, (None, 0))[1]
        if (str(version) if version else None) != etag:
            return False
        self.items[key] = (json.loads(json.dumps(value)), version + 1)
        return True

    async def get_many(self, keys: list[str]) -> list[Any]:
        return [(await self.get(key))[0] for key in keys]

    async def delete(self, key: str, etag: str | None = None) -> bool:
        if self.failing:
            raise StoreUnavailable("the in-memory store is set to fail")
        version = self.items.get(key, (None, 0))[1]
        if etag is not None and str(version) != etag:
            return False
        self.items.pop(key, None)
        return True
