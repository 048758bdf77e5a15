"""The long-turn runs this app process holds, and the requests waiting for a turn to change.

One ``TurnRuns`` per app (``create_app`` makes it; the actors hold it through ``ActorDeps``,
the routes through ``api/deps.py``), so apps built side by side in one process (the unit
tests) never see each other's runs. What a run does is ``turn_runner.py``'s.

A run is known only to the process that started it: ChatAgent's reminder fails a turn whose
run is not here any more (the app crashed and restarted, or the actor moved to another
replica), so a turn never stays pending for ever.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class Run:
    seq: int
    run_id: str
    task: asyncio.Task[None]


@dataclass
class _Signal:
    event: asyncio.Event = field(default_factory=asyncio.Event)
    waiters: int = 0


class TurnRuns:
    def __init__(self) -> None:
        # user -> the run of that user's long turn in this process.
        self._runs: dict[str, Run] = {}
        # user -> set whenever one of that user's turns changes state here (GET ?wait= wakes
        # on it).
        self._changed: dict[str, _Signal] = {}

    def get(self, user: str) -> Run | None:
        return self._runs.get(user)

    def add(self, user: str, run: Run) -> None:
        """``run`` is ``user``'s run until its task ends (or another run replaces it)."""
        self._runs[user] = run

        def forget(_task: asyncio.Task[None]) -> None:
            if self._runs.get(user) is run:
                del self._runs[user]

        run.task.add_done_callback(forget)

    def running(self, user: str, run_id: str) -> bool:
        run = self._runs.get(user)
        return run is not None and run.run_id == run_id and not run.task.done()

    def cancel(self, user: str) -> None:
        """Stop this process's run of ``user`` (its conversation was deleted)."""
        run = self._runs.pop(user, None)
        if run is not None:
            run.task.cancel()

    def changed(self, user: str) -> None:
        signal = self._changed.pop(user, None)
        if signal is not None:
            signal.event.set()

    async def wait_for_change(self, user: str, timeout_s: float) -> None:
        """Until one of ``user``'s turns changes state in this process, or ``timeout_s``."""
        signal = self._changed.setdefault(user, _Signal())
        signal.waiters += 1
        try:
            async with asyncio.timeout(timeout_s):
                await signal.event.wait()
        except TimeoutError:
            pass
        finally:
            signal.waiters -= 1
            if not signal.waiters and self._changed.get(user) is signal:
                del self._changed[user]
