"""The per-actor lock ``@actor_method`` holds in the process: a second activation of the same
actor (daprd force-cancelled the first one's claim during a rebalance) waits for the first."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from agent_actors.sidecar.boundary import actor_method


class Cache:
    async def clear_cache(self) -> None:
        pass


class Counter:
    running: ClassVar[dict[str, int]] = {}
    overlaps: ClassVar[list[str]] = []

    def __init__(self, actor_id: str) -> None:
        self.id = actor_id
        self._state_manager = Cache()

    @actor_method
    async def work(self) -> int:
        running = Counter.running.get(self.id, 0)
        if running:
            Counter.overlaps.append(self.id)
        Counter.running[self.id] = running + 1
        await asyncio.sleep(0.05)
        Counter.running[self.id] -= 1
        return 1


async def test_two_activations_of_one_actor_take_turns_and_others_do_not_wait() -> None:
    calls: list[Any] = [Counter("a").work(), Counter("a").work(), Counter("b").work()]
    started = asyncio.get_running_loop().time()
    assert await asyncio.gather(*calls) == [{"ok": 1}] * 3
    assert Counter.overlaps == []
    # a's two calls ran one after the other (0.1 s); b's beside them.
    assert asyncio.get_running_loop().time() - started < 0.15


class SharedCache:
    """One activation's SDK state cache: ``clear_cache`` runs in an executor, as the SDK's
    does (it yields to the loop)."""

    def __init__(self) -> None:
        self.half_turn: str | None = None

    async def clear_cache(self) -> None:
        await asyncio.sleep(0)
        self.half_turn = None


class Failing:
    seen: ClassVar[list[str | None]] = []

    def __init__(self, cache: SharedCache) -> None:
        self.id = "c"
        self._state_manager = cache

    @actor_method
    async def fail(self) -> None:
        self._state_manager.half_turn = "set by a call that failed"
        raise RuntimeError("the call fails half-way")

    @actor_method
    async def read(self) -> None:
        Failing.seen.append(self._state_manager.half_turn)


async def test_a_failed_calls_cache_is_cleared_before_the_next_call_runs() -> None:
    """The next call on the same activation never sees what a failed one left in the cache:
    it is cleared while the lock is still held."""
    actor = Failing(SharedCache())
    results = await asyncio.gather(actor.fail(), actor.read(), return_exceptions=True)
    assert isinstance(results[0], RuntimeError)
    assert Failing.seen == [None]
