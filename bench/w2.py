"""W2, a long conversation: one user, N turns back to back (quick 2,000, full 10,000).

Does a turn cost more when the conversation is long? With O(1)-per-turn state it should not.
The main figure, ``w2_growth``, is the app's CPU time per turn over the conversation's last
``edge`` turns / over the first ``edge`` turns of a fresh conversation, the two run at the
same time: in blocks of ``block`` turns, alternating (long, fresh, fresh, long, ...). Run at
the same time they share the machine's load: on this shared 2-core machine a comparison of
turns 1-100 with turns 1901-2000, minutes apart, moved by +-15 % from run to run (1.23 and
0.895 for one commit, issue 28), in latency and CPU alike, as other work came and went. The
per-pair ratios give the figure's spread. Latency is reported the same way
(``w2_latency_growth``, p50 over p50), and alongside the sequential first/last edges of the
long conversation itself (its Redis bytes per turn, and the figures W2 had before).

The fresh conversation's first turn activates its actors: it runs before the blocks, unmeasured
(activation is a cost of its own, not of length). Each block ends when Memory shows its last
turn, so a block's Redis bytes and CPU hold its turns' Memory updates and no other block's.
``w2_rss_growth`` = app RSS after the last turn / after the first ``edge`` turns (by then the
actors are active and the code paths warm), near 1 when the app keeps nothing per turn.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from bench.cache_probe import cached_key_counts
from bench.client import Connection
from bench.cpu import cpu_seconds
from bench.display import Display
from bench.load import percentile
from bench.memory_probe import memory_shows, turn_text
from bench.redis_meter import RedisMeter
from bench.rss import ratio, rss_mb
from bench.sizes import Sizes
from devstack.private import PrivateStack


@dataclass
class Side:
    """One conversation's measured turns: latencies, and per block CPU and Redis bytes."""

    user: str
    turn: int = 0  # its latest turn
    latencies: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)  # app CPU seconds, per block
    redis_bytes: list[float] = field(default_factory=list)  # per block
    turns: list[int] = field(default_factory=list)  # per block

    def cpu_ms_per_turn(self) -> float:
        return sum(self.cpu_s) * 1000 / sum(self.turns)


class Conversation:
    def __init__(self, http: Connection, meter: RedisMeter, app_pid: int) -> None:
        self.http, self.meter, self.app_pid = http, meter, app_pid

    async def turn(self, user: str, n: int) -> float:
        t0 = time.perf_counter()
        resp = await self.http.post(f"/chat/{user}", {"content": turn_text(user, n)})
        took = time.perf_counter() - t0
        if resp.status_code != 200:
            raise RuntimeError(f"W2 {user} turn {n}: {resp.status_code} {resp.text[:300]}")
        return took

    async def block(self, side: Side, turns: int) -> None:
        """``turns`` more turns of ``side``, measured, up to Memory showing the last one."""
        before, cpu0 = await self.meter.mark(), cpu_seconds(self.app_pid)
        for _ in range(turns):
            side.turn += 1
            side.latencies.append(await self.turn(side.user, side.turn))
        # Memory's update is part of a turn's writes: count it in its block.
        await memory_shows(self.http, side.user, side.turn, timeout_s=30)
        side.cpu_s.append(cpu_seconds(self.app_pid) - cpu0)
        side.redis_bytes.append(self.meter.written(before, await self.meter.mark()))
        side.turns.append(turns)


async def run_w2(stack: PrivateStack, sizes: Sizes, display: Display, tag: str) -> dict[str, Any]:
    n, edge = sizes.w2_turns, min(sizes.w2_edge, sizes.w2_turns // 2)
    block = max(1, min(sizes.w2_block, edge))
    pairs = edge // block
    edge = pairs * block  # whole blocks only
    long, fresh = Side(f"{tag}-long"), Side(f"{tag}-fresh")
    meter = RedisMeter(stack.redis_port)
    app_pid, rss_every = stack.pids()["app"], max(1, n // 100)
    rss: list[tuple[int, float | None]] = [(0, rss_mb(app_pid))]
    first = Side(long.user)  # the long conversation's own first edge, sequential
    try:
        idle = await meter.measure_idle(1.0 if n > 50 else 0.3)
        http = Connection("127.0.0.1", stack.app_port)
        conv = Conversation(http, meter, app_pid)
        try:
            with display.task(f"W2 long conversation, {n}", total=n + edge) as task:
                await conv.block(first, edge)
                long.turn = first.turn
                rss.append((edge, rss_mb(app_pid)))
                while long.turn < n - edge:
                    long.turn += 1
                    first.latencies.append(await conv.turn(long.user, long.turn))
                    if long.turn % rss_every == 0:
                        rss.append((long.turn, rss_mb(app_pid)))
                    if long.turn % 10 == 0:
                        p50 = percentile(first.latencies[-10:], 50) * 1000
                        task.update(long.turn, f"p50 {p50:.1f} ms")
                fresh.turn = 1
                await conv.turn(fresh.user, 1)  # activation: not measured
                for i in range(pairs):
                    order = (long, fresh) if i % 2 == 0 else (fresh, long)
                    for side in order:
                        await conv.block(side, block)
                    rss.append((long.turn, rss_mb(app_pid)))
                    task.update(long.turn + fresh.turn, f"block pair {i + 1}/{pairs}")
            keys = await cached_key_counts(http, long.user)
        finally:
            await http.close()
    finally:
        await meter.close()
    edge_lat = first.latencies[:edge]
    p50_first = percentile(edge_lat, 50) * 1000
    p50_last, p50_fresh = (percentile(s.latencies, 50) * 1000 for s in (long, fresh))
    cpu_last, cpu_fresh = long.cpu_ms_per_turn(), fresh.cpu_ms_per_turn()
    pair_ratios = [
        round(a / b, 3) if b else None for a, b in zip(long.cpu_s, fresh.cpu_s, strict=True)
    ]
    known = [r for r in pair_ratios if r is not None]
    by_turn = dict(rss)
    bytes_first = first.redis_bytes[0] / edge
    bytes_last = sum(long.redis_bytes) / edge
    return {
        "turns": n,
        "edge_turns": edge,
        "block_turns": block,
        # The main figure: app CPU per turn, the last turns / a fresh conversation's, at once.
        "w2_growth": round(cpu_last / cpu_fresh, 3) if cpu_fresh else None,
        "w2_growth_pairs": pair_ratios,
        "w2_growth_spread": [min(known), max(known)] if known else None,
        "w2_growth_pairs_median": round(statistics.median(known), 3) if known else None,
        "w2_latency_growth": round(p50_last / p50_fresh, 3),
        # Before issue 28 the main figure: p50 of the last edge / of the first, minutes apart.
        "w2_latency_growth_sequential": round(p50_last / p50_first, 3),
        "p50_first_ms": round(p50_first, 2),
        "p50_last_ms": round(p50_last, 2),
        "p50_fresh_ms": round(p50_fresh, 2),
        "redis_bytes_per_turn_first": round(bytes_first),
        "redis_bytes_per_turn_last": round(bytes_last),
        "redis_bytes_per_turn_fresh": round(sum(fresh.redis_bytes) / edge),
        "redis_bytes_growth": round(bytes_last / bytes_first, 3) if bytes_first else None,
        "redis_idle_bytes_per_s": round(idle, 1),
        "app_cpu_ms_per_turn_first": round(first.cpu_ms_per_turn(), 2),
        "app_cpu_ms_per_turn_last": round(cpu_last, 2),
        "app_cpu_ms_per_turn_fresh": round(cpu_fresh, 2),
        "app_rss_start_mb": rss[0][1],
        "app_rss_after_edge_mb": by_turn[edge],
        "app_rss_end_mb": by_turn[n],
        "w2_rss_growth": ratio(by_turn[n], by_turn[edge]),
        "cached_keys_end": keys,
        "app_rss_mb": [[i, mb] for i, mb in sorted(by_turn.items())],
        # The long conversation's turns in order (the chart): its first edge, the turns up to
        # the last edge, then the last edge's (interleaved with the fresh conversation's).
        "latencies_ms": [round(x * 1000, 2) for x in first.latencies + long.latencies],
    }
