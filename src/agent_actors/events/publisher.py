"""The publishing port, with Dapr's HTTP publish API behind it and an in-memory twin.

The Dapr side uses one pooled ``httpx.AsyncClient``: the tutorial's sync ``DaprClient``
created per publish blocked the event loop (and so every actor in the process).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

import httpx

from agent_actors.events.schemas import ConversationUpdated

log = logging.getLogger(__name__)


class PublishFailed(Exception):
    """The event was not accepted by the broker; it stays in the outbox."""


class Publisher(Protocol):
    async def publish(self, event: ConversationUpdated) -> None: ...


class DaprPublisher:
    def __init__(self, http: httpx.AsyncClient, pubsub: str, topic: str) -> None:
        self._http = http
        self._path = f"/v1.0/publish/{pubsub}/{topic}"

    async def publish(self, event: ConversationUpdated) -> None:
        try:
            resp = await self._http.post(
                self._path,
                content=event.model_dump_json(),
                # JSON content type: otherwise `data` reaches the subscriber as a string.
                headers={"Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise PublishFailed(f"daprd did not answer the publish: {exc!r}") from exc
        if resp.status_code >= 300:
            raise PublishFailed(f"daprd refused the publish ({resp.status_code}): {resp.text:.300}")


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
