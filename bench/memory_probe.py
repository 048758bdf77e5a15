"""Memory lag: the time from a turn's 200 until GET /memory/{id} shows that turn.

Every message the benchmark sends carries its turn number as ``#n#``; Memory's window holds the
latest turns' texts (and a reply quotes the message it answers), so the largest ``#n#`` in the
window is the latest turn Memory has applied. Memory applies turns in order, so seeing ``n``
or later means turn ``n`` is in. Polling costs actor calls too, so only one turn is probed at a
time (a sample of the turns), every ``POLL_S``.
"""

from __future__ import annotations

import asyncio
import re
import time

from bench.client import Connection, HttpError
from bench.load import percentile

TURN = re.compile(r"#(\d+)#")
POLL_S = 0.02


def turn_text(user: str, n: int) -> str:
    return f"bench turn #{n}# from {user}: how is the weather on the moon today?"


def latest_turn(memory: list[dict[str, str]]) -> int:
    return max((int(m) for e in memory for m in TURN.findall(e.get("content", ""))), default=-1)


async def memory_shows(http: Connection, user: str, n: int, timeout_s: float) -> bool:
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        try:
            resp = await http.get(f"/memory/{user}")
        except HttpError:
            resp = None
        if resp and resp.status_code == 200 and latest_turn(resp.json()["memory"]) >= n:
            return True
        await asyncio.sleep(POLL_S)
    return False


class LagProbe:
    def __init__(self, http: Connection, timeout_s: float = 30.0) -> None:
        self._http = http
        self._timeout_s = timeout_s
        self._busy = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.lags_s: list[float] = []
        self.timeouts = 0

    def offer(self, user: str, n: int, acked_at: float) -> None:
        """Probe turn ``n`` of ``user`` (acknowledged at ``acked_at``) unless one is running."""
        if self._busy:
            return
        self._busy = True
        task = asyncio.create_task(self._probe(user, n, acked_at))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _probe(self, user: str, n: int, acked_at: float) -> None:
        try:
            if await memory_shows(self._http, user, n, self._timeout_s):
                self.lags_s.append(time.perf_counter() - acked_at)
            else:
                self.timeouts += 1
        finally:
            self._busy = False

    async def drain(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def summary(self) -> dict[str, float | int]:
        ms = [x * 1000 for x in self.lags_s]
        return {
            "memory_lag_p50_ms": round(percentile(ms, 50), 2),
            "memory_lag_p95_ms": round(percentile(ms, 95), 2),
            "memory_lag_samples": len(ms),
            "memory_lag_timeouts": self.timeouts,
        }
