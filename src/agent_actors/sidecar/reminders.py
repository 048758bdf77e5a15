"""Reminders as the actors use them: fired by name, and registered unless the scheduler just
failed.

An actor that has reminders names ``Remindable`` among its own bases (the SDK checks
``Remindable in cls.__bases__`` before it fires one) and passes its handlers to ``fire``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta

from dapr.actor import Actor

from agent_actors.sidecar.breaker import Breaker

# Reminder name -> what firing it does.
Handlers = Mapping[str, Callable[[], Awaitable[object]]]


async def fire(handlers: Handlers, name: str) -> None:
    # An unknown name is a reminder of an older version of the actor: nothing to do.
    handler = handlers.get(name)
    if handler is not None:
        await handler()


async def register_unless_tripped(
    actor: Actor,
    breaker: Breaker,
    name: str,
    due: timedelta,
    period: timedelta,
    budget_s: float,
    *,
    even_if_tripped: bool = False,
) -> None:
    """Register ``actor``'s reminder ``name``, or raise. While ``breaker`` is open (a
    registration failed just now) the scheduler is not waited on again, unless
    ``even_if_tripped`` (a registration that has no later chance); a failure opens it. Its own
    short budget: a stopped scheduler must not hold a turn for the caller's whole timeout."""
    try:
        if breaker.open and not even_if_tripped:
            raise RuntimeError("the scheduler failed just now; not waiting on it again yet")
        async with asyncio.timeout(budget_s):
            await actor.register_reminder(name, b"{}", due, period)
    except Exception:
        if not breaker.open:
            breaker.trip()
        raise
