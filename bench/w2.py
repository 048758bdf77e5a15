"""W2, a long conversation: one user, N turns back to back (quick 300, full 1,000).

Compares the first ``edge`` turns with the last ``edge``: p50 latency (``w2_growth`` is their
ratio) and bytes written to Redis per turn (see redis_meter). With O(1)-per-turn state both
ratios stay near 1.
"""

from __future__ import annotations

import time
from typing import Any

from bench.client import Connection
from bench.display import Display
from bench.load import percentile
from bench.memory_probe import memory_shows, turn_text
from bench.redis_meter import RedisMeter
from bench.sizes import Sizes
from bench.stack import BenchStack


async def run_w2(stack: BenchStack, sizes: Sizes, display: Display, tag: str) -> dict[str, Any]:
    n, edge = sizes.w2_turns, min(sizes.w2_edge, sizes.w2_turns // 2)
    user = f"{tag}-long"
    meter = RedisMeter(stack.redis_port)
    latencies: list[float] = []
    marks: dict[str, tuple[float, int]] = {}
    try:
        idle = await meter.measure_idle(1.0 if n > 50 else 0.3)
        http = Connection("127.0.0.1", stack.app_port)
        try:
            with display.task(f"W2 long conversation, {n}", total=n) as task:
                for i in range(1, n + 1):
                    if i in (1, n - edge + 1):
                        marks[f"before_{i}"] = await meter.mark()
                    t0 = time.perf_counter()
                    resp = await http.post(f"/chat/{user}", {"content": turn_text(user, i)})
                    latencies.append(time.perf_counter() - t0)
                    if resp.status_code != 200:
                        raise RuntimeError(f"W2 turn {i}: {resp.status_code} {resp.text[:300]}")
                    if i in (edge, n):
                        # Memory's update is part of a turn's writes: count it in its window.
                        await memory_shows(http, user, i, timeout_s=30)
                        marks[f"after_{i}"] = await meter.mark()
                    if i % 10 == 0 or i == n:
                        task.update(i, f"p50 {percentile(latencies[-10:], 50) * 1000:.1f} ms")
        finally:
            await http.close()
    finally:
        await meter.close()
    first, last = latencies[:edge], latencies[-edge:]
    p50_first, p50_last = percentile(first, 50) * 1000, percentile(last, 50) * 1000
    bytes_first = meter.written(marks["before_1"], marks[f"after_{edge}"]) / edge
    bytes_last = meter.written(marks[f"before_{n - edge + 1}"], marks[f"after_{n}"]) / edge
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
        "latencies_ms": [round(x * 1000, 2) for x in latencies],
    }
