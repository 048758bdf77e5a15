"""W2, a long conversation: one user, N turns back to back (quick 2,000, full 10,000).

Compares the first ``edge`` turns with the last ``edge``: p50 latency (``w2_growth`` is their
ratio) and bytes written to Redis per turn (see redis_meter). With O(1)-per-turn state both
ratios stay near 1. The app's RSS is read along the way: ``w2_rss_growth`` = RSS after the
last turn / after the first ``edge`` turns (by then the actors are active and the code paths
warm), near 1 when the app keeps nothing per turn.
"""

from __future__ import annotations

import time
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


async def run_w2(stack: PrivateStack, sizes: Sizes, display: Display, tag: str) -> dict[str, Any]:
    n, edge = sizes.w2_turns, min(sizes.w2_edge, sizes.w2_turns // 2)
    user = f"{tag}-long"
    meter = RedisMeter(stack.redis_port)
    latencies: list[float] = []
    marks: dict[str, tuple[float, int]] = {}
    app_pid, rss_every = stack.pids()["app"], max(1, n // 100)
    rss: list[tuple[int, float | None]] = [(0, rss_mb(app_pid))]
    cpu: dict[str, float] = {}  # the app's CPU seconds at the marks
    try:
        idle = await meter.measure_idle(1.0 if n > 50 else 0.3)
        http = Connection("127.0.0.1", stack.app_port)
        try:
            with display.task(f"W2 long conversation, {n}", total=n) as task:
                for i in range(1, n + 1):
                    if i in (1, n - edge + 1):
                        marks[f"before_{i}"] = await meter.mark()
                        cpu[f"before_{i}"] = cpu_seconds(app_pid)
                    t0 = time.perf_counter()
                    resp = await http.post(f"/chat/{user}", {"content": turn_text(user, i)})
                    latencies.append(time.perf_counter() - t0)
                    if resp.status_code != 200:
                        raise RuntimeError(f"W2 turn {i}: {resp.status_code} {resp.text[:300]}")
                    if i in (edge, n):
                        # Memory's update is part of a turn's writes: count it in its window.
                        await memory_shows(http, user, i, timeout_s=30)
                        marks[f"after_{i}"] = await meter.mark()
                        cpu[f"after_{i}"] = cpu_seconds(app_pid)
                    if i % rss_every == 0 or i in (edge, n):
                        rss.append((i, rss_mb(app_pid)))
                    if i % 10 == 0 or i == n:
                        task.update(i, f"p50 {percentile(latencies[-10:], 50) * 1000:.1f} ms")
            keys = await cached_key_counts(http, user)
        finally:
            await http.close()
    finally:
        await meter.close()
    first, last = latencies[:edge], latencies[-edge:]
    p50_first, p50_last = percentile(first, 50) * 1000, percentile(last, 50) * 1000
    bytes_first = meter.written(marks["before_1"], marks[f"after_{edge}"]) / edge
    bytes_last = meter.written(marks[f"before_{n - edge + 1}"], marks[f"after_{n}"]) / edge
    by_turn = dict(rss)
    cpu_first = (cpu[f"after_{edge}"] - cpu["before_1"]) * 1000 / edge
    cpu_last = (cpu[f"after_{n}"] - cpu[f"before_{n - edge + 1}"]) * 1000 / edge
    return {
        "turns": n,
        "edge_turns": edge,
        "p50_first_ms": round(p50_first, 2),
        "p50_last_ms": round(p50_last, 2),
        "w2_growth": round(p50_last / p50_first, 3),
        "redis_bytes_per_turn_first": round(bytes_first),
        "redis_bytes_per_turn_last": round(bytes_last),
        "redis_bytes_growth": round(bytes_last / bytes_first, 3) if bytes_first else None,
        "redis_idle_bytes_per_s": round(idle, 1),
        # Latency moves with the machine's load; the app's CPU time per turn much less.
        "app_cpu_ms_per_turn_first": round(cpu_first, 2),
        "app_cpu_ms_per_turn_last": round(cpu_last, 2),
        "app_rss_start_mb": rss[0][1],
        "app_rss_after_edge_mb": by_turn[edge],
        "app_rss_end_mb": by_turn[n],
        "w2_rss_growth": ratio(by_turn[n], by_turn[edge]),
        "cached_keys_end": keys,
        "app_rss_mb": [[i, mb] for i, mb in sorted(by_turn.items())],
        "latencies_ms": [round(x * 1000, 2) for x in latencies],
    }
