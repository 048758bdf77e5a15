"""Reminders as the actors use them: fired by name.

An actor that has reminders names ``Remindable`` among its own bases (the SDK checks
``Remindable in cls.__bases__`` before it fires one) and passes its handlers to ``fire``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

# Reminder name -> what firing it does.
Handlers = Mapping[str, Callable[[], Awaitable[object]]]


async def fire(handlers: Handlers, name: str) -> None:
    # An unknown name is a reminder of an older version of the actor: nothing to do.
    handler = handlers.get(name)
    if handler is not None:
        await handler()
