"""Requests per second per API key: a token bucket per key, in this app process.

Each app process keeps its own buckets (no shared store on the request path: the app is
CPU-bound, and a Redis round trip per request would cost more than the check saves), so with
N replicas a key gets up to N times the rate. Only with API keys set: without them there is
no caller identity to bound.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from agent_actors.errors import RateLimited

# Buckets of keys idle this long are full again anyway: dropped, so the dict stays bounded by
# the active keys (configured keys only: an unknown key is refused before it gets here).
IDLE_S = 300.0


class TokenBucket:
    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, now: float) -> None:
        self.tokens = tokens
        self.updated = now


class RateLimiter:
    def __init__(
        self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate_per_s
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, key: str) -> None:
        """One request of ``key``; raises RateLimited (with Retry-After) when none is left."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) > 1000:
                self._forget_idle(now)
            bucket = self._buckets[key] = TokenBucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        if bucket.tokens < 1.0:
            wait = math.ceil((1.0 - bucket.tokens) / self._rate)
            raise RateLimited(
                f"this API key sent more than {self._rate:g} requests per second", max(1, wait)
            )
        bucket.tokens -= 1.0

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, b in self._buckets.items() if now - b.updated > IDLE_S]:
            del self._buckets[key]
