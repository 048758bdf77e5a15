"""A dependency that just failed is skipped for a while instead of being waited on again.

While the scheduler is down, every reminder registration waits for daprd's timeout (~5 s):
without this, each active user's next turn would wait that long too.
"""

from __future__ import annotations

import time


class Breaker:
    def __init__(self, cool_s: float) -> None:
        self._cool_s = cool_s
        self._until = 0.0

    @property
    def open(self) -> bool:
        """True while calls should skip the dependency."""
        return time.monotonic() < self._until

    def trip(self) -> None:
        self._until = time.monotonic() + self._cool_s

    def reset(self) -> None:
        self._until = 0.0
