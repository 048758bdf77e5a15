"""Bytes written to Redis, as Redis itself counts them: ``INFO stats total_net_input_bytes``.

That counter is every byte clients sent to Redis (commands and their payloads: the actor-state
transactions, the pub/sub XADDs, Memory's writes, and daprd's own polling). The polling goes
on while nothing happens, so its rate is measured while idle and subtracted over a window.
"""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis


class RedisMeter:
    def __init__(self, port: int) -> None:
        self._redis = aioredis.Redis(host="127.0.0.1", port=port)
        self.idle_bytes_per_s = 0.0

    async def net_input_bytes(self) -> int:
        info = await self._redis.info("stats")
        return int(info["total_net_input_bytes"])

    async def measure_idle(self, seconds: float) -> float:
        t0, b0 = time.perf_counter(), await self.net_input_bytes()
        await asyncio.sleep(seconds)
        t1, b1 = time.perf_counter(), await self.net_input_bytes()
        self.idle_bytes_per_s = (b1 - b0) / (t1 - t0)
        return self.idle_bytes_per_s

    async def mark(self) -> tuple[float, int]:
        return time.perf_counter(), await self.net_input_bytes()

    def written(self, before: tuple[float, int], after: tuple[float, int]) -> float:
        """Bytes written between two marks, less the idle polling over that time."""
        (t0, b0), (t1, b1) = before, after
        return max(0.0, (b1 - b0) - self.idle_bytes_per_s * (t1 - t0))

    async def close(self) -> None:
        await self._redis.aclose()
