"""A closed-loop async load generator: N workers, each sending its next request on the answer.

Requests that complete inside the measured window (after the warm-up, before the deadline)
count, so activation of fresh actors and the ramp-down do not blur the steady state. After the
deadline, requests still in flight get ``grace_s`` to finish; the rest are abandoned and counted
as ``unfinished``, so an overloaded service cannot stretch a benchmark past its time budget.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.display import Display

Op = Callable[[int, int], Awaitable[bool]]  # (worker, iteration) -> ok


@dataclass(frozen=True)
class Sample:
    start: float
    end: float
    ok: bool

    @property
    def latency(self) -> float:
        return self.end - self.start


@dataclass
class LoadResult:
    workers: int
    window_s: float
    samples: list[Sample] = field(default_factory=list)
    unfinished: int = 0

    def summary(self) -> dict[str, Any]:
        ok = [s.latency for s in self.samples if s.ok]
        errors = sum(1 for s in self.samples if not s.ok)
        return {
            "workers": self.workers,
            "requests": len(self.samples),
            "errors": errors,
            "unfinished": self.unfinished,
            "per_s": len(ok) / self.window_s if self.window_s > 0 else 0.0,
            **latency_ms(ok),
        }


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def latency_ms(latencies_s: Sequence[float]) -> dict[str, float]:
    ms = [x * 1000 for x in latencies_s]
    return {
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms), 2) if ms else math.nan,
        "mean_ms": round(sum(ms) / len(ms), 2) if ms else math.nan,
    }


async def closed_loop(
    workers: int,
    op: Op,
    *,
    warmup_s: float,
    duration_s: float,
    display: Display,
    label: str,
    grace_s: float = 10.0,
) -> LoadResult:
    t0 = time.perf_counter()
    warm, end = t0 + warmup_s, t0 + warmup_s + duration_s
    result = LoadResult(workers, duration_s)
    done = 0

    async def worker(index: int) -> None:
        nonlocal done
        i = 0
        while time.perf_counter() < end:
            start = time.perf_counter()
            try:
                ok = await op(index, i)
            except Exception:  # a transport error is a failed request, not a crash
                ok = False
            stop = time.perf_counter()
            i += 1
            done += 1
            if warm <= stop <= end:
                result.samples.append(Sample(start, stop, ok))

    with display.task(label, total=warmup_s + duration_s) as task:

        async def tick() -> None:
            while True:
                now = time.perf_counter()
                task.update(min(now - t0, warmup_s + duration_s), f"{done} req")
                await asyncio.sleep(0.25)

        ticker = asyncio.create_task(tick())
        tasks = [asyncio.create_task(worker(w)) for w in range(workers)]
        try:
            await asyncio.wait(tasks, timeout=warmup_s + duration_s + grace_s)
        finally:
            ticker.cancel()
            for t in tasks:
                if not t.done():
                    t.cancel()
                    result.unfinished += 1
            await asyncio.gather(*tasks, return_exceptions=True)
        summary = result.summary()
        task.update(warmup_s + duration_s, f"{summary['per_s']:.0f}/s p50 {summary['p50_ms']} ms")
    return result
