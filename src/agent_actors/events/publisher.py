"""The publishing port, with Dapr's HTTP publish API behind it and an in-memory twin.

The Dapr side uses the app's sidecar pool (``sidecar/client.py``): the tutorial's sync
``DaprClient`` created per publish blocked the event loop (and so every actor in the process).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from agent_actors.errors import PublishFailed
from agent_actors.events.conversation_updated import ConversationUpdated
from agent_actors.sidecar.client import Sidecar

log = logging.getLogger(__name__)

__all__ = ["DaprPublisher", "InMemoryPublisher", "PublishFailed", "Publisher", "Unpublishable"]


class Unpublishable(PublishFailed):
    """The event cannot be encoded at all: publishing it again would fail the same way."""


class Publisher(Protocol):
    async def publish(self, event: ConversationUpdated) -> None: ...


class DaprPublisher:
    def __init__(self, sidecar: Sidecar, pubsub: str, topic: str) -> None:
        self._sidecar = sidecar
        self._path = f"/v1.0/publish/{pubsub}/{topic}"

    async def publish(self, event: ConversationUpdated) -> None:
        # Sent as JSON (the sidecar client's content type): otherwise `data` reaches the
        # subscriber as a string.
        try:
            data = event.model_dump_json().encode()
        except Exception as exc:
            raise Unpublishable(f"the event cannot be encoded as JSON: {exc}") from exc
        # Any failure is PublishFailed (sidecar/failures.py): the event stays in the outbox.
        await self._sidecar.call("POST", self._path, data)


class InMemoryPublisher:
    """The twin used by unit tests: delivers to a handler in-process, can be made to fail."""

    def __init__(self, deliver: Callable[[ConversationUpdated], Awaitable[None]] | None = None):
        self.published: list[ConversationUpdated] = []
        self.failing = False
        self._deliver = deliver

    async def publish(self, event: ConversationUpdated) -> None:
        if self.failing:
            raise PublishFailed("the in-memory broker is set to fail")
        self.published.append(event)
        if self._deliver is not None:
            await self._deliver(event)
