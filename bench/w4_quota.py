"""W4 under equal CPU quotas: the 1-pair and 2-pair runs again, each app and each daprd in a
cgroup with the same quota in both runs, so the second pair brings a budget of its own as a
second machine would. ``w4_scaling_quota`` = turns/s with 2 pairs / with 1 pair.

Unquota'd, both pairs share the machine's two cores with Redis and the load generator, and
the ratio measures the machine (``w4_machine_ceiling``). Under quotas the pairs are the limit,
not the machine, as long as the quotas of two pairs plus what Redis, placement, the scheduler
and the client use fit in the cores: the quick run's defaults, 0.4 core per app and 0.35 per
daprd, make 1.5 cores for two pairs, and at the ~200-300 turns/s the quotas allow Redis and
the client used about 0.1 core each unquota'd at twice that rate (docs/BENCHMARKS.md, W4),
so about 0.3 core stays free. The app gets more than its daprd because with one pair the
app used about 1.25 x daprd's CPU; with two pairs daprd's share grows (a turn crossing to the
other pair costs both daprds), so there daprd's quota binds first. Each group's cpu.stat
(``nr_throttled``, throttled seconds) shows that the quotas bind; the daprds' metrics count
the actor calls that crossed to the other pair, what a second pair adds to a turn.

Where no cgroup can be written, ``skipped`` says why and W4 keeps its unquota'd figures.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

import httpx

from bench import cgroup
from bench.display import Display
from bench.sizes import Sizes
from bench.w4 import spread_level
from devstack.pairs import kind_of, process_index
from devstack.private import PrivateStack, private_stack

# A pair whose app + daprd used this share of their quotas or more was held by them, not by
# the machine (a quota is never used to the last percent: a process waits on I/O too).
BINDING = 0.8
CALL_ACTOR = "ServiceInvocation/CallActor"  # daprd to daprd: an actor placed on another pair


def quotas(sizes: Sizes) -> dict[str, float]:
    return {"app": sizes.w4_quota_app_cores, "daprd": sizes.w4_quota_daprd_cores}


async def run_w4_quota(run_dir: Path, sizes: Sizes, display: Display, tag: str) -> dict[str, Any]:
    found = cgroup.usable()
    if isinstance(found, str):
        return {"skipped": found, "w4_scaling_quota": None}
    by_pairs: dict[str, dict[str, Any]] = {}
    for pairs in (1, 2):
        token = secrets.token_hex(16)
        with private_stack(
            run_dir / f"{pairs}-pairs-quota", app_api_token=token, replicas=pairs
        ) as s:
            by_pairs[str(pairs)] = await quota_level(found, s, sizes, display, tag)
    one, two = by_pairs["1"]["turns_per_s"], by_pairs["2"]["turns_per_s"]
    return {
        "hierarchy": f"cgroup v{found.version}",
        "quota_cores": quotas(sizes),
        "by_pairs": by_pairs,
        # The ratio compares two quota-bound runs only if both were: on a machine busy with
        # other work the pairs get less than their quotas and the ratio measures that work.
        "quotas_bind": all(lv["quotas_bind"] for lv in by_pairs.values()),
        "w4_scaling_quota": round(two / one, 3) if one else None,
    }


async def quota_level(
    found: cgroup.Hierarchy, stack: PrivateStack, sizes: Sizes, display: Display, tag: str
) -> dict[str, Any]:
    """One run of spread_level with every app and daprd in a group of its own."""
    pids = {n: pid for n, pid in stack.pids().items() if kind_of(n) in ("app", "daprd")}
    per_part = quotas(sizes)
    label = f"w4q{len(stack.pairs)}"
    with cgroup.cpu_groups(found, {n: per_part[kind_of(n)] for n in pids}, label) as groups:
        for name, pid in pids.items():
            groups[name].add(pid)
        busy0, t0 = busy_seconds(), time.perf_counter()
        hops0 = await actor_calls(stack)
        level = await spread_level(
            stack, sizes, display, tag, duration_s=sizes.w4_quota_duration_s, groups=groups
        )
        machine = (busy_seconds() - busy0) / (time.perf_counter() - t0)
        hops = {k: v - hops0[k] for k, v in (await actor_calls(stack)).items()}
    level["pair_cores"] = pair_cores(level["cpu_cores"], sum(per_part.values()))
    level["quotas_bind"] = all(p["of_quota"] >= BINDING for p in level["pair_cores"].values())
    # What the machine spent beyond this stack and the client: other work on a shared
    # machine, which takes cores the quotas would otherwise get.
    level["machine_busy_cores"] = round(machine, 2)
    level["other_work_cores"] = round(machine - level["cpu_cores"]["total"], 2)
    level["actor_calls"] = {
        **hops,
        "crossing_share": round(hops["crossed"] / hops["to_apps"], 3) if hops["to_apps"] else None,
    }
    return level


async def actor_calls(stack: PrivateStack) -> dict[str, int]:
    """From every daprd's metrics: the actor calls it made to its app, and those it sent on to
    another pair's daprd (placement put the actor there): what a second pair adds per turn."""
    totals = {"to_apps": 0, "crossed": 0}
    async with httpx.AsyncClient(timeout=10) as client:
        for pair in stack.pairs:
            text = (await client.get(f"http://127.0.0.1:{pair.metrics}/metrics")).text
            for line in text.splitlines():
                name, _, value = line.rpartition(" ")
                if name.startswith("dapr_http_client_completed_count{") and 'path="actors/' in name:
                    totals["to_apps"] += int(float(value))
                elif name.startswith("dapr_grpc_io_client_completed_rpcs{") and CALL_ACTOR in name:
                    totals["crossed"] += int(float(value))
    return totals


def busy_seconds(stat: Path = Path("/proc/stat")) -> float:
    """CPU seconds all cores spent not idle since boot (the first line of /proc/stat)."""
    fields = [int(v) for v in stat.read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def pair_cores(cpu: dict[str, float], quota: float) -> dict[str, dict[str, float]]:
    """Cores each pair's app + daprd used, and as a share of the pair's quota."""
    used: dict[str, float] = {}
    for name, cores in cpu.items():
        if kind_of(name) in ("app", "daprd"):
            pair = str(process_index(name))
            used[pair] = used.get(pair, 0.0) + cores
    return {
        p: {"cores": round(c, 2), "of_quota": round(c / quota, 2)} for p, c in sorted(used.items())
    }
