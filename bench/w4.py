"""W4, scale-out: W1 at 64 users on a stack with 1 app+daprd pair, then on one with 2 pairs.

With 2 pairs the users alternate between pair 0's and pair 1's app (what a load balancer in
front of the apps does); placement spreads the actors over both pairs, so a turn may cross to
the other pair's daprd. ``w4_scaling`` = turns/s with 2 pairs / turns/s with 1 pair.

On this 2-core machine both pairs, Redis, placement and the load generator share the same two
cores, so the measured ratio says little about a deployment with a core per pair. The
projection ``w4_scaling_core_per_pair`` assumes each pair has a core of its own and Redis and
the client are not the bottleneck: a pair then serves 1 / (its CPU seconds per turn) turns/s,
so the ratio is 2 x (pair CPU per turn with 1 pair) / (pair CPU per turn with 2 pairs); what
stays below 2 is the cost of turns crossing between pairs. ``w4_machine_ceiling`` is the
most the measured ratio can be here: the machine's cores / the cores the 1-pair run used.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from bench.cgroup import CpuGroup, window
from bench.client import Connections
from bench.cpu import CpuMeter
from bench.display import Display
from bench.load import closed_loop
from bench.memory_probe import turn_text
from bench.sizes import Sizes
from devstack.private import PrivateStack, private_stack

PAIR_PARTS = ("app", "daprd")


async def run_w4(run_dir: Path, sizes: Sizes, display: Display, tag: str) -> dict[str, Any]:
    by_pairs: dict[str, dict[str, Any]] = {}
    for pairs in (1, 2):
        token = secrets.token_hex(16)
        with private_stack(run_dir / f"{pairs}-pairs", app_api_token=token, replicas=pairs) as s:
            by_pairs[str(pairs)] = await spread_level(s, sizes, display, tag)
    one, two = by_pairs["1"], by_pairs["2"]
    cost1, cost2 = one["pair_cpu_ms_per_turn"], two["pair_cpu_ms_per_turn"]
    return {
        "users": sizes.w4_users,
        "by_pairs": by_pairs,
        "w4_scaling": round(two["turns_per_s"] / one["turns_per_s"], 3)
        if one["turns_per_s"]
        else None,
        "w4_scaling_core_per_pair": round(2 * cost1 / cost2, 3) if cost1 and cost2 else None,
        "w4_machine_ceiling": machine_ceiling(one),
    }


def machine_ceiling(one: dict[str, Any]) -> float | None:
    """The most ``w4_scaling`` can be on this machine: its cores over the cores the whole
    stack used with 1 pair. Even if a second pair cost nothing more per turn, the two pairs
    together could serve no more turns than the idle cores left to them allow."""
    used = one["cpu_cores"].get("total")
    cores = os.cpu_count()
    return round(cores / used, 3) if used and cores else None


async def spread_level(
    stack: PrivateStack,
    sizes: Sizes,
    display: Display,
    tag: str,
    *,
    duration_s: float | None = None,
    groups: Mapping[str, CpuGroup] | None = None,
) -> dict[str, Any]:
    """W1 at ``sizes.w4_users``, user i on pair (i mod pairs)'s app; with ``groups`` (the
    processes' CPU quotas, bench/w4_quota.py) also what each group's cpu.stat counted."""
    pairs = stack.pairs
    groups = groups or {}
    users = sizes.w4_users
    async with AsyncExitStack() as exits:
        conns = [await exits.enter_async_context(Connections("127.0.0.1", p.app)) for p in pairs]

        async def turn(worker: int, n: int) -> bool:
            user = f"{tag}-w4p{len(pairs)}-{worker}"
            body = {"content": turn_text(user, n)}
            resp = await conns[worker % len(pairs)][worker].post(f"/chat/{user}", body)
            return resp.status_code == 200

        meter = CpuMeter(stack.pids())
        meter.start()
        before = {name: g.stat() for name, g in groups.items()}
        result = await closed_loop(
            users,
            turn,
            warmup_s=sizes.w1_warmup_s,
            duration_s=duration_s or sizes.w1_duration_s,
            display=display,
            label=f"W4 scale-out, {users} users on {len(pairs)} pair(s)"
            + (" under quotas" if groups else ""),
        )
        throttling = {name: window(before[name], g.stat()) for name, g in groups.items()}
        cpu = meter.stop()
    s = result.summary()
    rate = s["per_s"]
    # CPU of one pair's app + daprd, averaged over the pairs, per turn the whole stack served
    # divided by the pairs: what one pair spends on its share of the turns.
    pair_cores = sum(v for k, v in cpu.items() if k.split("-")[0] in PAIR_PARTS) / len(pairs)
    per_pair_rate = rate / len(pairs)
    level = {
        "pairs": len(pairs),
        "users": users,
        "turns_per_s": round(rate, 2),
        "turns": s["requests"],
        "errors": s["errors"],
        "unfinished": s["unfinished"],
        **{k: s[k] for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms")},
        "cpu_cores": cpu,
        "pair_cpu_ms_per_turn": round(pair_cores * 1000 / per_pair_rate, 3)
        if per_pair_rate
        else None,
    }
    if groups:
        level["cpu_stat"] = throttling
    return level
