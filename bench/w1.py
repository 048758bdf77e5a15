"""W1, throughput: 1, 8, 64 users, each sending turns back to back (fresh users per level).

Per level: turns/s and latency percentiles of the turns inside the measured window, memory lag
(sampled, see memory_probe), and the CPU each process used. Between levels the benchmark waits
until every user's last turn is in Memory, so one level's pub/sub backlog does not slow the next.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.client import Connection, Connections
from bench.cpu import CpuMeter
from bench.display import Display
from bench.load import closed_loop
from bench.memory_probe import LagProbe, memory_shows, turn_text
from bench.sizes import Sizes
from devstack.private import PrivateStack


async def run_level(
    stack: PrivateStack,
    users: int,
    sizes: Sizes,
    display: Display,
    tag: str,
    *,
    warmup_s: float | None = None,
    duration_s: float | None = None,
    probe_memory: bool = True,
) -> dict[str, Any]:
    warmup_s = sizes.w1_warmup_s if warmup_s is None else warmup_s
    duration_s = sizes.w1_duration_s if duration_s is None else duration_s
    last_turn: dict[str, int] = {}
    probe_conn = Connection("127.0.0.1", stack.app_port)
    async with Connections("127.0.0.1", stack.app_port) as conns:
        probe = LagProbe(probe_conn, timeout_s=15.0)
        warm_at = time.perf_counter() + warmup_s

        async def turn(worker: int, n: int) -> bool:
            user = f"{tag}-u{users}-{worker}"
            resp = await conns[worker].post(f"/chat/{user}", {"content": turn_text(user, n)})
            if resp.status_code != 200:
                return False
            last_turn[user] = n
            now = time.perf_counter()
            if probe_memory and now >= warm_at:
                probe.offer(user, n, now)
            return True

        meter = CpuMeter(stack.pids())
        meter.start()
        result = await closed_loop(
            users,
            turn,
            warmup_s=warmup_s,
            duration_s=duration_s,
            display=display,
            label=f"W1 throughput, {users} users",
        )
        cpu = meter.stop()
        await probe.drain()
        await probe_conn.close()
    async with Connections("127.0.0.1", stack.app_port) as fresh:
        settled = await settle(fresh, last_turn)
    s = result.summary()
    return {
        "users": users,
        "turns_per_s": round(s["per_s"], 2),
        "turns": s["requests"],
        "errors": s["errors"],
        "unfinished": s["unfinished"],
        **{k: s[k] for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms")},
        **probe.summary(),
        "memory_settled": settled,
        "cpu_cores": cpu,
    }


async def settle(conns: Connections, last_turn: dict[str, int]) -> bool:
    """Wait until Memory shows every user's last acknowledged turn."""
    shown = await asyncio.gather(
        *(memory_shows(conns[i], user, n, 30) for i, (user, n) in enumerate(last_turn.items()))
    )
    return all(shown)


async def run_w1(stack: PrivateStack, sizes: Sizes, display: Display, tag: str) -> dict[str, Any]:
    levels = {}
    for users in sizes.w1_users:
        levels[str(users)] = await run_level(stack, users, sizes, display, tag)
    return {"by_users": levels}
