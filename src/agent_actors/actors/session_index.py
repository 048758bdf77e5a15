"""The session index: which conversations exist, newest activity first, without a scan.

Dapr cannot enumerate actors and its state API has no sorted sets, so the index is kept in
time buckets through daprd's state API (``agent-actors||sessions|…`` keys):

``sessions|b|<bucket>|<shard>``   the users whose latest index update fell in that bucket
                                  (``bucket = unix time // bucket_s``), sharded by a hash of
                                  the user id so one key stays small and writers rarely meet
``sessions|day|<day>``            the buckets of that day that were ever used

A user is in exactly one bucket: ChatAgent records its bucket in ``meta.indexed_bucket`` and,
after a commit whose time falls in another bucket, adds itself to the new one and removes
itself from the old one (at most once per ``bucket_s`` per active user, not per turn). A
delete removes the entry before the conversation's keys, so a deleted conversation is never
listed. Listing walks the day keys from the newest and reads one bucket (its shards) at a
time: the work is proportional to the page asked for (and the empty days crossed, up to
``horizon_days``), never to the number of sessions. Writes are read-modify-write with the
ETag, retried on a conflict (the same scheme as the dead letters).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from agent_actors.errors import InvalidInput
from agent_actors.events.dead_letters import VersionedStore, update_with_etag
from agent_actors.models import USER_ID
from agent_actors.settings import LimitSettings

DAY_S = 86400


class IndexEntry(BaseModel):
    created_at: float
    last_activity: float = Field(description="as of the index's latest update (≤ bucket_s old)")
    turns: int


class IndexShard(BaseModel):
    users: dict[str, IndexEntry] = Field(default_factory=dict)


class DayBuckets(BaseModel):
    buckets: list[int] = Field(default_factory=list)


class SessionItem(BaseModel):
    id: str
    turns: int
    created_at: float
    last_activity: float


class SessionPage(BaseModel):
    sessions: list[SessionItem]
    next_after: str | None = Field(None, description="pass as ?after= for the next page")


class SessionIndex:
    def __init__(self, store: VersionedStore, limits: LimitSettings) -> None:
        self._store = store
        self._bucket_s = limits.index_bucket_s
        self._shards = limits.index_shards
        self._horizon_days = limits.index_horizon_days
        # Buckets this process already put in their day's key: one write per bucket each.
        self._days_known: set[int] = set()

    def bucket(self, at: float) -> int:
        return int(at // self._bucket_s)

    def _shard_key(self, bucket: int, user: str) -> str:
        return f"sessions|b|{bucket}|{zlib.crc32(user.encode()) % self._shards}"

    async def put(self, user: str, old_bucket: int, entry: IndexEntry) -> int:
        """Move ``user`` into the bucket of ``entry.last_activity``; returns that bucket."""
        bucket = self.bucket(entry.last_activity)
        if bucket not in self._days_known:
            if len(self._days_known) > 1000:
                self._days_known.clear()  # old buckets are never written again
            await self._update(
                f"sessions|day|{bucket * self._bucket_s // DAY_S}",
                DayBuckets,
                lambda d: _add_bucket(d, bucket),
            )
            self._days_known.add(bucket)
        await self._update(
            self._shard_key(bucket, user), IndexShard, lambda s: _set(s, user, entry)
        )
        if old_bucket and old_bucket != bucket:
            await self.remove(user, old_bucket)
        return bucket

    async def remove(self, user: str, bucket: int) -> None:
        if not bucket:
            return
        key = self._shard_key(bucket, user)
        await self._update(key, IndexShard, lambda s: _drop(s, user))
        # A shard its users all left is deleted, or the index would keep one empty key per
        # bucket and shard ever used. Only if unchanged since this read: a user who moved in
        # meanwhile keeps it. (The day keys stay: one small key per day.)
        raw, etag = await self._store.get(key)
        if raw is not None and etag is not None and not IndexShard.model_validate(raw).users:
            await self._store.delete(key, etag)

    async def page(self, limit: int, after: str | None, now: float) -> SessionPage:
        """Sessions newest first; ``after`` is a ``next_after`` of the previous page."""
        cursor = _parse_cursor(after)
        top = self.bucket(cursor[0]) if cursor else self.bucket(now)
        out: list[SessionItem] = []
        day = top * self._bucket_s // DAY_S
        for _ in range(self._horizon_days):
            raw, _etag = await self._store.get(f"sessions|day|{day}")
            buckets = DayBuckets() if raw is None else DayBuckets.model_validate(raw)
            for bucket in sorted((b for b in buckets.buckets if b <= top), reverse=True):
                for item in await self._bucket_items(bucket):
                    if cursor is None or (item.last_activity, item.id) < cursor:
                        out.append(item)
                if len(out) >= limit:
                    break
            if len(out) >= limit:
                break
            day -= 1
        out = out[:limit]
        last = out[-1] if len(out) == limit else None
        return SessionPage(
            sessions=out,
            next_after=None if last is None else f"{last.last_activity!r}:{last.id}",
        )

    async def _bucket_items(self, bucket: int) -> list[SessionItem]:
        items: list[SessionItem] = []
        keys = [f"sessions|b|{bucket}|{shard}" for shard in range(self._shards)]
        for raw in await self._store.get_many(keys):
            if raw is None:
                continue
            for user, e in IndexShard.model_validate(raw).users.items():
                items.append(
                    SessionItem(
                        id=user,
                        turns=e.turns,
                        created_at=e.created_at,
                        last_activity=e.last_activity,
                    )
                )
        items.sort(key=lambda i: (i.last_activity, i.id), reverse=True)
        return items

    async def _update(self, key: str, model: type[Any], change: Callable[[Any], bool]) -> None:
        await update_with_etag(self._store, key, model, change)


def _add_bucket(day: DayBuckets, bucket: int) -> bool:
    if bucket in day.buckets:
        return False
    day.buckets.append(bucket)
    return True


def _set(shard: IndexShard, user: str, entry: IndexEntry) -> bool:
    shard.users[user] = entry
    return True


def _drop(shard: IndexShard, user: str) -> bool:
    return shard.users.pop(user, None) is not None


def _parse_cursor(after: str | None) -> tuple[float, str] | None:
    """``<last activity>:<user id>``, as ``next_after`` writes it: a finite time (``nan`` or
    ``inf`` would pass ``float()`` and break the ordering) and a valid user id."""
    if not after:
        return None
    at, sep, user = after.partition(":")
    try:
        when = float(at)
    except ValueError:
        when = math.nan
    if sep and math.isfinite(when) and USER_ID.fullmatch(user):
        return (when, user)
    raise InvalidInput("?after= takes the next_after of the previous page")
