"""W7, soak: 32 users sending turns back to back (closed loop) for 2 minutes (full: 30).

Per interval (40 s; full: a minute; the tiny harness size: a second): turns/s, latency, and the RSS
and CPU of the app, daprd and Redis. ``w7_rss_growth`` = the app's RSS at the end / after the
first interval (the first takes activation and warm-up); ``w7_throughput_drift`` = turns/s
in the last interval / the first. Flat over time means both stay near 1. Redis's RSS grows by
design: it stores every turn.

It runs on a stack of its own, so what the other workloads left in the app's heap does not
blur its figures.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from bench.cache_probe import cached_key_counts
from bench.client import Connections
from bench.cpu import cpu_seconds
from bench.display import Display
from bench.load import Sample, closed_loop, latency_ms
from bench.memory_probe import turn_text
from bench.rss import STACK_PARTS, ratio, rss_of
from bench.sizes import Sizes
from bench.stack import running_stack
from devstack.private import PrivateStack


async def run_w7(run_dir: Path, sizes: Sizes, display: Display, tag: str) -> dict[str, Any]:
    with running_stack(run_dir) as stack:
        return await soak(stack, sizes, display, tag)


async def soak(stack: PrivateStack, sizes: Sizes, display: Display, tag: str) -> dict[str, Any]:
    users, every = sizes.w7_users, sizes.w7_interval_s
    count = max(2, round(sizes.w7_duration_s / every))
    pids = stack.pids()
    async with Connections("127.0.0.1", stack.app_port) as conns:

        async def turn(worker: int, n: int) -> bool:
            user = f"{tag}-soak-{worker}"
            resp = await conns[worker].post(f"/chat/{user}", {"content": turn_text(user, n + 1)})
            return resp.status_code == 200

        t0 = time.perf_counter()
        sampler = asyncio.create_task(sample(pids, t0, every, count))
        try:
            result = await closed_loop(
                users,
                turn,
                warmup_s=0.0,
                duration_s=count * every,
                display=display,
                label=f"W7 soak, {users} users",
            )
        except BaseException:
            sampler.cancel()
            raise
        start, ticks = await sampler
        keys = await cached_key_counts(conns[0], f"{tag}-soak-0")
    intervals = [
        with_cost({**interval_summary(result.samples, t0, every, i), **tick})
        for i, tick in enumerate(ticks)
    ]
    ok = [s.latency for s in result.samples if s.ok]
    first, last = intervals[0], intervals[-1]
    return {
        "users": users,
        "duration_s": count * every,
        "interval_s": every,
        "turns": len(ok),
        "errors": len(result.samples) - len(ok),
        "unfinished": result.unfinished,
        "turns_per_s": round(len(ok) / (count * every), 2),
        **latency_ms(ok),
        "rss_start_mb": start,
        "intervals": intervals,
        "w7_rss_growth": ratio(last["rss_mb"]["app"], first["rss_mb"]["app"]),
        "w7_throughput_drift": ratio(last["turns_per_s"], first["turns_per_s"]),
        "cached_keys_end": keys,
    }


async def sample(
    pids: dict[str, int], t0: float, every: float, count: int
) -> tuple[dict[str, float | None], list[dict[str, Any]]]:
    """RSS at the start, then RSS, CPU cores used and the machine's load at the end of each
    interval."""
    start = rss_of(pids)
    cpu_before = {name: cpu_seconds(pids[name]) for name in STACK_PARTS if name in pids}
    ticks = []
    for i in range(1, count + 1):
        await asyncio.sleep(max(0.0, t0 + i * every - time.perf_counter()))
        cpu_now = {name: cpu_seconds(pid) for name, pid in pids.items() if name in cpu_before}
        cores = {n: round((cpu_now[n] - cpu_before[n]) / every, 2) for n in cpu_before}
        ticks.append(
            {
                "t_s": round(i * every, 1),
                "rss_mb": rss_of(pids),
                "cpu_cores": cores,
                # Other work on the machine moves turns/s: a drift read next to the load.
                "load_avg_1m": round(os.getloadavg()[0], 2),
            }
        )
        cpu_before = cpu_now
    return start, ticks


def with_cost(interval: dict[str, Any]) -> dict[str, Any]:
    """The app's CPU time per turn: on a shared machine turns/s follows the cores the app
    gets; the cost per turn says whether a turn itself got dearer."""
    rate, cores = interval["turns_per_s"], interval["cpu_cores"].get("app")
    cost = round(cores * 1000 / rate, 2) if rate and cores is not None else None
    return {**interval, "app_cpu_ms_per_turn": cost}


def interval_summary(samples: list[Sample], t0: float, every: float, i: int) -> dict[str, Any]:
    lo, hi = t0 + i * every, t0 + (i + 1) * every
    inside = [s for s in samples if lo <= s.end < hi]
    ok = [s.latency for s in inside if s.ok]
    lat = latency_ms(ok)
    return {
        "turns_per_s": round(len(ok) / every, 2),
        "errors": len(inside) - len(ok),
        "p50_ms": lat["p50_ms"],
        "p99_ms": lat["p99_ms"],
    }
