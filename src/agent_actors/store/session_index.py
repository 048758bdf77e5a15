"""The session index: which conversations exist, newest activity first, without a scan.

A conversation is a thread (models.thread_id): each of a session's agent threads is indexed
under its own id, and listed with its session's id and its agent.

Dapr cannot enumerate actors and its state API has no sorted sets, so the index is kept in
time buckets through daprd's state API (``agent-actors||sessions|…`` keys):

``sessions|b|<bucket>|<shard>``   the users whose latest index update fell in that bucket
                                  (``bucket = unix time // bucket_s``), sharded by a hash of
                                  the user id so one key stays small and writers rarely meet
``sessions|day|<day>``            the buckets of that day that were ever used (and are not
                                  known empty)

ChatAgent records its bucket in ``meta.indexed_bucket``: after a commit whose time falls in
another bucket, it adds itself to the new one, records that, and removes itself from the old
one (at most once per ``bucket_s`` per active user, not per turn). A delete removes the entry
before the conversation's keys. A removal that fails leaves an orphan (the user listed in an
older bucket too, or a deleted conversation still listed), so a listing never trusts an entry
alone: each one it would show is checked against ChatAgent's saved ``meta`` (one actor-state
read) and shown only if that conversation exists, is the one indexed (same ``created_at``) and
is not indexed in a newer bucket; an orphan found so is removed (if unchanged since read).
These reads cannot be one bulk read: daprd's state API refuses keys holding ``||``, and an
actor's keys are ``<app>||<type>||<id>||<key>``.

Listing reads the horizon's day keys in one round trip, walks them from the newest and reads
one bucket (its shards) at a time, validating only the entries it checks. A page reads at
most about ``index_page_keys`` keys (shards, day keys, conversations checked; it may finish
the bucket or check it started): past that it ends early, with fewer sessions than asked and
a ``next_after`` that continues where it stopped, so a client pages on while ``next_after``
is set, however many empty buckets lie in between. A bucket found with no shard left is dropped
from its day key once no writer can add to it any more (``PRUNE_AFTER_S``): it is crossed once.
Writes are read-modify-write with the ETag, retried on a conflict (as the dead letters are).
"""

from __future__ import annotations

import asyncio
import logging
import math
import operator
import zlib
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from agent_actors.errors import InvalidInput
from agent_actors.models import AGENT_NAME, USER_ID, split_thread
from agent_actors.settings import LimitSettings
from agent_actors.sidecar.actor_runtime import StateLoader
from agent_actors.store.committed import committed_history
from agent_actors.store.dead_letters import VersionedStore, update_with_etag

log = logging.getLogger(__name__)
DAY_S = 86400
# A bucket is written at most post_commit_timeout_s after its end (a turn's index update runs
# after its commit): well past that, and past any clock skew between replicas, nobody adds to
# it, and an empty one may leave its day key.
PRUNE_AFTER_S = 600.0


class IndexEntry(BaseModel):
    created_at: float
    last_activity: float = Field(description="as of the index's latest update (≤ bucket_s old)")
    turns: int


class IndexShard(BaseModel):
    users: dict[str, IndexEntry] = Field(default_factory=dict)


class DayBuckets(BaseModel):
    buckets: list[int] = Field(default_factory=list)


class SessionItem(BaseModel):
    id: str = Field(description="the session (the user id)")
    agent: str | None = Field(
        None, description="the agent whose thread this is; null: the session's own thread"
    )
    turns: int
    created_at: float
    last_activity: float


class SessionPage(BaseModel):
    sessions: list[SessionItem]
    next_after: str | None = Field(
        None,
        description="pass as ?after= for the next page; set while more may follow, even "
        "under a page shorter than its limit (a page reads a bounded number of keys)",
    )


class SessionIndex:
    def __init__(self, store: VersionedStore, limits: LimitSettings, load: StateLoader) -> None:
        self._store = store
        self._bucket_s = limits.index_bucket_s
        self._shards = limits.index_shards
        self._horizon_days = limits.index_horizon_days
        self._page_keys = limits.index_page_keys
        # ChatAgent's saved state (daprd's actor state API): what a listed entry is checked by.
        self._load = load
        # Buckets this process already put in their day's key: one write per bucket each.
        self._days_known: set[int] = set()

    def bucket(self, at: float) -> int:
        return int(at // self._bucket_s)

    def _shard_key(self, bucket: int, user: str) -> str:
        return f"sessions|b|{bucket}|{zlib.crc32(user.encode()) % self._shards}"

    async def add(self, user: str, entry: IndexEntry) -> int:
        """List ``user`` in the bucket of ``entry.last_activity``; returns that bucket. The
        caller records it, then removes ``user`` from the bucket it was in (``remove``)."""
        bucket = self.bucket(entry.last_activity)
        if bucket not in self._days_known:
            if len(self._days_known) > 1000:
                self._days_known.clear()  # old buckets are never written again
            await self._update(
                _day_key(self._day(bucket)),
                DayBuckets,
                lambda d: _add_bucket(d, bucket),
            )
            self._days_known.add(bucket)
        await self._update(
            self._shard_key(bucket, user), IndexShard, lambda s: _set(s, user, entry)
        )
        return bucket

    async def remove(self, user: str, bucket: int, only: IndexEntry | None = None) -> None:
        """Unlist ``user`` from ``bucket`` (``only``: if its entry there is still that one)."""
        if not bucket:
            return
        key = self._shard_key(bucket, user)
        await self._update(key, IndexShard, lambda s: _drop(s, user, only))
        # A shard its users all left is deleted, or the index would keep one empty key per
        # bucket and shard ever used. Only if unchanged since this read: a user who moved in
        # meanwhile keeps it.
        raw, etag = await self._store.get(key)
        if raw is not None and etag is not None and not IndexShard.model_validate(raw).users:
            await self._store.delete(key, etag)

    async def page(self, limit: int, after: str | None, now: float) -> SessionPage:
        """Sessions newest first; ``after`` is a ``next_after`` of the previous page."""
        walk = _Walk(limit, _parse_cursor(after), self._page_keys)
        top = self._top(walk.frontier, now)
        # The horizon's day keys in one round trip: read one at a time, a page of an index
        # with few or no sessions (all deleted) paid ~30 sequential reads (W9, issue 28).
        days = [self._day(top) - i for i in range(self._horizon_days)]
        walk.spent += len(days)
        found = await self._store.get_many([_day_key(day) for day in days])
        for day, raw in zip(days, found, strict=True):
            buckets = DayBuckets() if raw is None else DayBuckets.model_validate(raw)
            empty: set[int] = set()
            for bucket in sorted((b for b in buckets.buckets if b <= top), reverse=True):
                if not walk.affords(self._shards):
                    walk.stop_above(bucket, self._bucket_s)
                    break
                entries = await self._bucket_entries(walk, bucket)
                if entries is None:
                    if (bucket + 1) * self._bucket_s + PRUNE_AFTER_S < now:
                        empty.add(bucket)
                else:
                    await self._list(walk, bucket, entries)
                if walk.ended:
                    break
                walk.passed(bucket, self._bucket_s)
            if empty:
                await self._prune(day, empty)
            if walk.ended:
                break
        return walk.result()

    def _day(self, bucket: int) -> float:
        # A float when bucket_s is one (it is, by default): the day keys were always named so.
        return bucket * self._bucket_s // DAY_S

    def _top(self, cursor: tuple[float, str] | None, now: float) -> int:
        """The newest bucket a page starts from: a cursor with no id continues below its time
        (a page that stopped between buckets), one with an id at that entry."""
        if cursor is None:
            return self.bucket(now)
        at, user = cursor
        return self.bucket(at if user else math.nextafter(at, -math.inf))

    async def _bucket_entries(self, walk: _Walk, bucket: int) -> list[_Raw] | None:
        """The bucket's entries newest first, as stored (None: it has no shard left)."""
        keys = [f"sessions|b|{bucket}|{shard}" for shard in range(self._shards)]
        walk.spent += len(keys)
        found = [raw for raw in await self._store.get_many(keys) if raw is not None]
        if not found:
            return None
        # Sorted as stored, validated only when checked (``_list``): the newest bucket holds
        # every user active in its last bucket_s, and validating them all with pydantic was
        # most of a page's CPU (W9: 3,000 users, a page checks 50).
        entries = [
            (float(raw["last_activity"]), user, raw)
            for shard in found
            for user, raw in shard.get("users", {}).items()
        ]
        # Newest first by time alone (a sort on (time, user) tuples cost as much as decoding
        # the shards, in py-spy); entries that share a time, by user, as cursors order them.
        if len({entry[0] for entry in entries}) < len(entries):
            entries.sort(key=_user, reverse=True)
        entries.sort(key=_at, reverse=True)  # stable: ties keep the order by user
        return entries

    async def _list(self, walk: _Walk, bucket: int, entries: list[_Raw]) -> None:
        """Add the bucket's entries past the cursor that are current, in order, checking as
        many at a time as the page still needs (one actor-state read each)."""
        # Newest first: the entries at or above the cursor lead the list.
        start = next((i for i, e in enumerate(entries) if walk.before(_newest(e))), len(entries))
        todo = entries[start:]
        while todo and not walk.ended:
            n = min(len(todo), walk.limit - len(walk.out), walk.left())
            if n <= 0:
                if walk.affords(1):
                    n = 1  # a page always moves on, however small its budget
                else:
                    walk.stopped = True
                    return
            chunk = [(user, IndexEntry.model_validate(raw)) for _at, user, raw in todo[:n]]
            todo = todo[n:]
            walk.spent += n
            verdicts = await asyncio.gather(*(self._current(u, bucket, e) for u, e in chunk))
            for (user, entry), current in zip(chunk, verdicts, strict=True):
                walk.examined(user, entry, current)
                if not current:
                    walk.spent += 2  # the shard read again to remove it, and to delete it
                    await self._repair(user, bucket, entry)
                if walk.ended:
                    return

    async def _current(self, user: str, bucket: int, entry: IndexEntry) -> bool:
        """The entry is the conversation's listing: it exists, it is the conversation the
        entry was made for, and it is not indexed in a newer bucket (an orphan is)."""
        meta = await committed_history(self._load, user, 1).meta()
        return (
            meta.turns > 0 and meta.created_at == entry.created_at and meta.indexed_bucket <= bucket
        )

    async def _repair(self, user: str, bucket: int, entry: IndexEntry) -> None:
        log.info("session index: %s in bucket %d is an orphan; removed", user, bucket)
        try:
            await self.remove(user, bucket, only=entry)
        except Exception:
            # Not shown either way; the next listing tries again.
            log.warning("session index: removing an orphan failed", exc_info=True)

    async def _prune(self, day: float, empty: set[int]) -> None:
        try:
            await self._update(_day_key(day), DayBuckets, lambda d: _drop_buckets(d, empty))
        except Exception:
            log.warning("session index: pruning day %s failed", day, exc_info=True)

    async def _update(self, key: str, model: type[Any], change: Callable[[Any], bool]) -> None:
        await update_with_etag(self._store, key, model, change)


# A bucket's entry as stored: (last activity, user, the IndexEntry's fields).
_Raw = tuple[float, str, dict[str, Any]]


_at, _user = operator.itemgetter(0), operator.itemgetter(1)


def _newest(entry: _Raw) -> tuple[float, str]:
    return entry[0], entry[1]


class _Walk:
    """One page's progress: what it lists, the keys it read, and its frontier (every entry at
    or above it was examined, by this page or the ones before: the next page's cursor)."""

    def __init__(self, limit: int, cursor: tuple[float, str] | None, budget: int) -> None:
        self.limit, self.budget = limit, budget
        self.frontier = cursor
        self.out: list[SessionItem] = []
        self.seen: set[str] = set()
        self.spent = 0
        self.moved = False
        self.stopped = False

    @property
    def ended(self) -> bool:
        return self.stopped or len(self.out) >= self.limit

    def left(self) -> int:
        return self.budget - self.spent

    def affords(self, keys: int) -> bool:
        # Until the frontier has moved, a page reads on: each page makes progress.
        return not self.moved or self.spent + keys <= self.budget

    def before(self, key: tuple[float, str]) -> bool:
        return self.frontier is None or key < self.frontier

    def examined(self, user: str, entry: IndexEntry, current: bool) -> None:
        # A user listed twice in a page (a move between buckets in flight) is shown once.
        if current and user not in self.seen:
            self.seen.add(user)
            session, agent = split_thread(user)
            self.out.append(
                SessionItem(
                    id=session,
                    agent=agent,
                    turns=entry.turns,
                    created_at=entry.created_at,
                    last_activity=entry.last_activity,
                )
            )
        self._move((entry.last_activity, user))

    def passed(self, bucket: int, bucket_s: float) -> None:
        self._move((bucket * bucket_s, ""))

    def stop_above(self, bucket: int, bucket_s: float) -> None:
        """Out of budget before ``bucket``: the next page starts with it."""
        self._move(((bucket + 1) * bucket_s, ""))
        self.stopped = True

    def _move(self, to: tuple[float, str]) -> None:
        if self.frontier is None or to < self.frontier:
            self.frontier, self.moved = to, True

    def result(self) -> SessionPage:
        if not self.ended or self.frontier is None:
            return SessionPage(sessions=self.out)
        at, user = self.frontier
        return SessionPage(sessions=self.out, next_after=f"{at!r}:{user}")


def _day_key(day: float) -> str:
    return f"sessions|day|{day}"


def _add_bucket(day: DayBuckets, bucket: int) -> bool:
    if bucket in day.buckets:
        return False
    day.buckets.append(bucket)
    return True


def _drop_buckets(day: DayBuckets, empty: set[int]) -> bool:
    kept = [b for b in day.buckets if b not in empty]
    changed = len(kept) != len(day.buckets)
    day.buckets = kept
    return changed


def _set(shard: IndexShard, user: str, entry: IndexEntry) -> bool:
    shard.users[user] = entry
    return True


def _drop(shard: IndexShard, user: str, only: IndexEntry | None) -> bool:
    if user not in shard.users or (only is not None and shard.users[user] != only):
        return False
    del shard.users[user]
    return True


def _parse_cursor(after: str | None) -> tuple[float, str] | None:
    """``<last activity>:<thread id>``, as ``next_after`` writes it: a finite time (``nan`` or
    ``inf`` would pass ``float()`` and break the ordering) and a valid thread id (a user id, or
    an agent's thread of one), or none (a page that stopped at its key budget: go on below
    that time)."""
    if not after:
        return None
    at, sep, user = after.partition(":")
    try:
        when = float(at)
    except ValueError:
        when = math.nan
    if sep and math.isfinite(when) and (not user or _is_thread(user)):
        return (when, user)
    raise InvalidInput("?after= takes the next_after of the previous page")


def _is_thread(thread: str) -> bool:
    session, agent = split_thread(thread)
    return bool(USER_ID.fullmatch(session)) and (agent is None or bool(AGENT_NAME.fullmatch(agent)))
