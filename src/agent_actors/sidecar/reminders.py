"""The SDK's reminder callback, routed by name: an actor lists its reminders' handlers.

An actor using it still names ``Remindable`` among its own bases: the SDK checks
``Remindable in cls.__bases__`` before it fires a reminder.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from dapr.actor import Remindable


class NamedReminders(Remindable):
    def _reminder_handlers(self) -> dict[str, Callable[[], Awaitable[object]]]:
        """Reminder name -> what firing it does (override)."""
        return {}

    async def receive_reminder(
        self,
        name: str,
        state: bytes,
        due_time: timedelta,
        period: timedelta,
        ttl: timedelta | None = None,
    ) -> None:
        # An unknown name is a reminder of an older version of the actor: nothing to do.
        handler = self._reminder_handlers().get(name)
        if handler is not None:
            await handler()
