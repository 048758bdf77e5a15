"""W9, many conversations: what a conversation costs as their number grows (issue 28).

On a stack of its own whose actors idle out after a few seconds (``ActorSettings`` through
``AGENT_ACTORS_ACTORS__IDLE_TIMEOUT_S``; the outbox watchdog shortened likewise, since its
reminder wakes each new conversation's ChatAgent once, a period after its first turn):

1. Warm-up, and ``w9_cold_conversations`` deep conversations of ``w9_cold_turns`` turns each
   (full 10,000; the quick profile fewer, as its JSON says), built side by side.
2. Wait until daprd reports no active actor; the app's and daprd's RSS, Redis's
   ``used_memory`` and ``DBSIZE``: "before".
3. Cold activation: the first turn of each deep conversation, one at a time (no actor of it
   active), then a second turn on each (warm). ``w9_cold_vs_warm_p50`` / ``_p99``.
4. ``w9_users`` new users, ``w9_turns`` turns each, ``w9_concurrency`` users at a time, in
   order. ``w9_throughput_drift`` = turns/s while the last tenth of the users ran / the first.
   Redis's ``used_memory`` and ``DBSIZE`` deltas per conversation.
5. ``GET /sessions?limit=50`` with all of them in the index: ``w9_sessions_p99_ms``.
6. Wait until no actor is active: RSS "after"; ``w9_app_rss_ratio``, ``w9_daprd_rss_ratio``.
7. ``DELETE /chat/{id}`` of every user; the session index's keys left in Redis, and
   ``GET /sessions?limit=50`` again: ``w9_sessions_after_delete_p99_ms``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bench.client import Connections
from bench.cpu import cpu_seconds
from bench.display import Display
from bench.load import latency_ms, percentile
from bench.memory_probe import turn_text
from bench.rss import ratio, rss_of
from bench.sizes import Sizes
from bench.stack import running_stack
from devstack.private import PrivateStack

FIGURES = (
    "w9_throughput_drift",
    "w9_app_rss_ratio",
    "w9_daprd_rss_ratio",
    "w9_cold_vs_warm_p50",
    "w9_cold_vs_warm_p99",
    "w9_sessions_p99_ms",
    "w9_sessions_after_delete_p99_ms",
    "w9_index_keys_left",
)
TENTHS = 10
# The session index's keys in Redis (store/session_index.py): shards and day keys.
INDEX_KEYS = "*||sessions|*"


async def run_w9(run_dir: Path, sizes: Sizes, display: Display, tag: str) -> dict[str, Any]:
    env = {
        "AGENT_ACTORS_ACTORS__IDLE_TIMEOUT_S": str(sizes.w9_idle_timeout_s),
        "AGENT_ACTORS_ACTORS__SCAN_INTERVAL_S": str(sizes.w9_scan_interval_s),
        "AGENT_ACTORS_LIMITS__OUTBOX_WATCHDOG_S": str(sizes.w9_outbox_watchdog_s),
    }
    with running_stack(run_dir, app_env=env) as stack:
        return await many(stack, sizes, display, tag)


async def many(stack: PrivateStack, sizes: Sizes, display: Display, tag: str) -> dict[str, Any]:
    pids = stack.pids()
    redis = aioredis.Redis(host="127.0.0.1", port=stack.redis_port)
    out: dict[str, Any] = {
        "users": sizes.w9_users,
        "turns_per_user": sizes.w9_turns,
        "concurrency": sizes.w9_concurrency,
        "idle_timeout_s": sizes.w9_idle_timeout_s,
        "outbox_watchdog_s": sizes.w9_outbox_watchdog_s,
        "cold_conversations": sizes.w9_cold_conversations,
        "cold_turns": sizes.w9_cold_turns,
    }
    t_start = time.perf_counter()
    try:
        async with Connections("127.0.0.1", stack.app_port) as conns:
            warm = [f"{tag}-w9warm-{i}" for i in range(sizes.w9_concurrency)]
            deep = [f"{tag}-w9deep-{i}" for i in range(sizes.w9_cold_conversations)]
            await users_in_order(
                conns, warm, sizes.w9_turns, sizes.w9_concurrency, display, "W9 warm-up"
            )
            await build_deep(conns, deep, sizes.w9_cold_turns, display)
            out["idle_before_s"] = await wait_no_actors(conns, sizes, display)
            before = {"rss_mb": rss_of(pids), **await redis_size(redis)}
            out["before"] = before
            out["cold"] = await cold_and_warm(conns, deep, sizes.w9_cold_turns)
            users = [f"{tag}-w9u-{i}" for i in range(sizes.w9_users)]
            run = await users_in_order(
                conns,
                users,
                sizes.w9_turns,
                sizes.w9_concurrency,
                display,
                f"W9 {len(users):,} users x {sizes.w9_turns} turns",
                pids,
            )
            out["run"] = run
            loaded = await redis_size(redis)
            out["loaded"] = loaded
            out["redis"] = await redis_cost(redis, before, loaded, users, sizes.w9_turns)
            out["sessions"] = await listing(conns, sizes.w9_listings)
            out["idle_after_s"] = await wait_no_actors(conns, sizes, display)
            out["after"] = {"rss_mb": rss_of(pids), **await redis_size(redis)}
            everyone = warm + deep + users
            out["deletes"] = await delete_all(conns, everyone, sizes.w9_concurrency, display)
            out["index_keys_left"] = await index_keys(redis)
            out["sessions_after_delete"] = await listing(conns, sizes.w9_listings)
            out["deleted"] = {"rss_mb": rss_of(pids), **await redis_size(redis)}
    finally:
        await redis.aclose()
    out["wall_s"] = round(time.perf_counter() - t_start, 1)
    return {**out, **figures(out)}


def figures(out: dict[str, Any]) -> dict[str, Any]:
    before, after, cold = out["before"]["rss_mb"], out["after"]["rss_mb"], out["cold"]
    left = out["index_keys_left"]
    return {
        "w9_throughput_drift": out["run"]["drift"],
        "w9_app_rss_ratio": ratio(after["app"], before["app"]),
        "w9_daprd_rss_ratio": ratio(after["daprd"], before["daprd"]),
        "w9_cold_vs_warm_p50": ratio(cold["cold"]["p50_ms"], cold["warm"]["p50_ms"]),
        "w9_cold_vs_warm_p99": ratio(cold["cold"]["p99_ms"], cold["warm"]["p99_ms"]),
        "w9_sessions_p99_ms": out["sessions"]["p99_ms"],
        "w9_sessions_after_delete_p99_ms": out["sessions_after_delete"]["p99_ms"],
        # A shard key left is an empty bucket left behind; the day keys stay (one a day), and
        # list the buckets they held until a listing prunes them (PRUNE_AFTER_S past the end).
        "w9_index_keys_left": left["shards"],
        "w9_redis_bytes_per_conversation": out["redis"]["used_memory_bytes_per_conversation"],
        "w9_redis_keys_per_conversation": out["redis"]["keys_per_conversation"],
    }


async def turn(conns: Connections, worker: int, user: str, n: int) -> tuple[float, float, bool]:
    t0 = time.perf_counter()
    try:
        resp = await conns[worker].post(f"/chat/{user}", {"content": turn_text(user, n)})
        ok = resp.status_code == 200
    except Exception:  # a transport error is a failed turn, not a crash
        ok = False
    return t0, time.perf_counter(), ok


async def users_in_order(
    conns: Connections,
    users: list[str],
    turns: int,
    concurrency: int,
    display: Display,
    label: str,
    pids: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Each worker takes the next user and sends its turns back to back; the users start in
    order, so the last tenth of them runs with all the others' conversations stored."""
    taken = 0
    tenth = max(1, len(users) // TENTHS)
    marks: list[tuple[float, dict[str, float]]] = []  # when each tenth's first user started
    ends: list[tuple[float, bool, float]] = []  # (end, ok, latency)

    def cpu() -> dict[str, float]:
        return {k: cpu_seconds(pids[k]) for k in ("app", "daprd", "redis") if pids and k in pids}

    with display.task(label, total=len(users)) as task:

        async def worker(w: int) -> None:
            nonlocal taken
            while taken < len(users):
                i = taken
                taken += 1
                if i % tenth == 0 and len(marks) < TENTHS:
                    marks.append((time.perf_counter(), cpu()))
                for n in range(1, turns + 1):
                    t0, t1, ok = await turn(conns, w, users[i], n)
                    ends.append((t1, ok, t1 - t0))
                if i % 50 == 0:
                    task.update(taken, f"{len(ends)} turns")
            if len(marks) == TENTHS:  # the queue ran dry: the end of the last tenth's window
                marks.append((time.perf_counter(), cpu()))

        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        task.update(len(users), f"{len(ends)} turns")
    ok = [lat for _end, good, lat in ends if good]
    result: dict[str, Any] = {
        "turns": len(ok),
        "errors": len(ends) - len(ok),
        **latency_ms(ok),
    }
    if len(marks) <= TENTHS:
        return result  # too few users for tenths (the warm-up)
    # The first window opens at the first turn's answer, not at the start: no turn can end
    # before one latency has passed, which would understate the first tenth.
    first_end = min(end for end, _ok, _lat in ends)
    marks[0] = (first_end, marks[0][1])
    per_tenth = []
    for k in range(TENTHS):
        (lo, cpu_lo), (hi, cpu_hi) = marks[k], marks[k + 1]
        inside = [(good, lat) for end, good, lat in ends if lo <= end < hi]
        done = [lat for good, lat in inside if good]
        span = hi - lo
        rate = len(done) / span if span > 0 else 0.0
        cost = {
            f"{part}_cpu_ms_per_turn": round((cpu_hi[part] - cpu_lo[part]) * 1000 / len(done), 2)
            if done
            else None
            for part in cpu_lo
        }
        per_tenth.append(
            {
                "window_s": round(span, 2),
                "turns_per_s": round(rate, 1),
                "errors": len(inside) - len(done),
                "p50_ms": round(percentile(done, 50) * 1000, 2),
                "p99_ms": round(percentile(done, 99) * 1000, 2),
                **cost,
            }
        )
    first, last = per_tenth[0]["turns_per_s"], per_tenth[-1]["turns_per_s"]
    return {
        **result,
        "wall_s": round(marks[-1][0] - marks[0][0], 1),
        "turns_per_s": round(len(ok) / (marks[-1][0] - marks[0][0]), 1),
        "per_tenth": per_tenth,
        "drift": ratio(last, first),
    }


async def build_deep(conns: Connections, users: list[str], turns: int, display: Display) -> None:
    """``turns`` committed turns on each of ``users``, the conversations side by side (each
    one's turns in order, as a user sends them)."""
    done = 0
    with display.task(f"W9 {len(users)} conversations x {turns:,} turns", total=turns) as task:

        async def one(w: int, user: str) -> None:
            nonlocal done
            for n in range(1, turns + 1):
                _t0, _t1, ok = await turn(conns, w, user, n)
                if not ok:
                    raise RuntimeError(f"W9: turn {n} of {user} failed")
                done += 1
                if w == 0 and n % 20 == 0:
                    task.update(n, f"{done} turns")

        await asyncio.gather(*(one(w, u) for w, u in enumerate(users)))


async def active_actors(conns: Connections) -> int:
    resp = await conns[0].get("/inspect/runtime")
    if resp.status_code != 200:
        raise RuntimeError(f"W9: /inspect/runtime said {resp.status_code} {resp.text[:200]}")
    return sum(a["count"] for a in resp.json()["actors"])


async def wait_no_actors(conns: Connections, sizes: Sizes, display: Display) -> float:
    """Until daprd reports no active actor (the idle timeout and the outbox watchdog's one
    wake-up past); how long that took. Raises if it never happens: the figures after it would
    then not be what they say."""
    t0 = time.perf_counter()
    limit = 3 * (sizes.w9_idle_timeout_s + sizes.w9_outbox_watchdog_s) + 30
    with display.task("W9 idle until no actor is active", total=limit) as task:
        while True:
            count = await active_actors(conns)
            waited = time.perf_counter() - t0
            task.update(min(waited, limit), f"{count} active")
            if count == 0:
                return round(waited, 1)
            if waited > limit:
                raise RuntimeError(f"W9: {count} actors still active after {waited:.0f} s idle")
            await asyncio.sleep(0.5)


async def cold_and_warm(conns: Connections, users: list[str], turns: int) -> dict[str, Any]:
    """The first turn of each conversation with no actor active, one at a time; then the next
    turn of each (its actors now active), one at a time."""
    cold: list[float] = []
    warm: list[float] = []
    for n, into in ((turns + 1, cold), (turns + 2, warm)):
        for user in users:
            t0, t1, ok = await turn(conns, 0, user, n)
            if not ok:
                raise RuntimeError(f"W9: turn {n} of {user} failed")
            into.append(t1 - t0)
    return {"cold": latency_ms(cold), "warm": latency_ms(warm)}


async def redis_size(redis: aioredis.Redis) -> dict[str, int]:
    info = await redis.info("memory")
    return {"used_memory": int(info["used_memory"]), "keys": int(await redis.dbsize())}


async def redis_cost(
    redis: aioredis.Redis,
    before: dict[str, Any],
    after: dict[str, Any],
    users: list[str],
    turns: int,
) -> dict[str, Any]:
    """Per conversation: ``INFO memory used_memory`` and ``DBSIZE`` deltas over the run / its
    users (everything the run added: actor state, the session index, the pub/sub streams'
    growth, if any); and, for a few users, their own keys and ``MEMORY USAGE`` of each."""
    n = len(users)
    sample = {}
    for user in (users[0], users[n // 2], users[-1]):
        keys = [k async for k in redis.scan_iter(match=f"*||{user}||*", count=5000)]
        usage = {k.decode(): int(await redis.memory_usage(k) or 0) for k in keys}
        sample[user] = {"keys": len(keys), "bytes": sum(usage.values()), "by_key": usage}
    return {
        "conversations": n,
        "turns_per_conversation": turns,
        "used_memory_bytes_per_conversation": round(
            (after["used_memory"] - before["used_memory"]) / n
        ),
        "keys_per_conversation": round((after["keys"] - before["keys"]) / n, 2),
        "sampled": sample,
    }


async def listing(conns: Connections, samples: int) -> dict[str, Any]:
    """``GET /sessions?limit=50``, one at a time."""
    lat, shown = [], 0
    for _ in range(samples):
        t0 = time.perf_counter()
        resp = await conns[0].get("/sessions?limit=50")
        lat.append(time.perf_counter() - t0)
        if resp.status_code != 200:
            raise RuntimeError(f"W9: GET /sessions said {resp.status_code} {resp.text[:200]}")
        shown = len(resp.json()["sessions"])
    return {"samples": samples, "sessions_on_page": shown, **latency_ms(lat)}


async def delete_all(
    conns: Connections, users: list[str], concurrency: int, display: Display
) -> dict[str, Any]:
    taken, lat, failed = 0, [], []
    with display.task(f"W9 DELETE {len(users):,} users", total=len(users)) as task:

        async def worker(w: int) -> None:
            nonlocal taken
            while taken < len(users):
                user = users[taken]
                taken += 1
                t0 = time.perf_counter()
                resp = await conns[w].request("DELETE", f"/chat/{user}")
                lat.append(time.perf_counter() - t0)
                if resp.status_code != 204:
                    failed.append(user)
                if taken % 100 == 0:
                    task.update(taken)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        wall = time.perf_counter() - t0
    return {
        "deleted": len(users) - len(failed),
        "failed": len(failed),
        "per_s": round(len(users) / wall, 1),
        **latency_ms(lat),
    }


async def index_keys(redis: aioredis.Redis) -> dict[str, Any]:
    """The session index's keys left in Redis: bucket shards, and day keys (with the buckets
    each still lists)."""
    keys = [k.decode() async for k in redis.scan_iter(match=INDEX_KEYS, count=5000)]
    shards = [k for k in keys if "|sessions|b|" in k]
    days = [k for k in keys if "|sessions|day|" in k]
    listed: dict[str, str | None] = {}
    for key in days:
        data = await redis.hget(key, "data")
        listed[key] = data.decode() if isinstance(data, bytes) else data
    return {"shards": len(shards), "days": len(days), "day_keys": listed}
