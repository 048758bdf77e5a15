"""Read-only views of the other actors and of the subscription."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from agent_actors.actors import naming
from agent_actors.actors.boundary import unwrap
from agent_actors.actors.interfaces import MemoryAgentInterface, ResponseAgentInterface
from agent_actors.api.deps import AdminOnly, Proxies, UserId
from agent_actors.events.subscriber import Stats

router = APIRouter(tags=["inspect"])


@router.get("/response/{id}/count")
async def count(id: UserId, proxies: Proxies) -> dict[str, int]:
    """How many replies ResponseAgent(response-{id}) has given."""
    proxy = proxies.create(naming.RESPONSE, naming.response_id(id), ResponseAgentInterface)
    return {"count": unwrap(await proxy.GetMessageCount())}


@router.get("/memory/{id}")
async def memory(id: UserId, proxies: Proxies) -> dict[str, list[dict[str, Any]]]:
    """MemoryAgentActor(memory-{id})'s window, oldest first."""
    proxy = proxies.create(naming.MEMORY, naming.memory_id(id), MemoryAgentInterface)
    return {"memory": unwrap(await proxy.GetMemory())}


# What a dead letter may show: where it came from and which turn, never the messages.
DEAD_LETTER_FIELDS = ("id", "type", "topic", "user_id", "seq", "reason")


@router.get("/events/stats", dependencies=[AdminOnly])
async def event_stats(stats: Stats) -> dict[str, Any]:
    """Subscription counters: received, dropped (malformed), retried, dead-lettered (admin)."""
    return {
        "received": stats.received,
        "dropped": stats.dropped,
        "retried": stats.retried,
        "dead_letters": stats.dead_letters,
        "recent_dead_letters": [_without_content(d) for d in stats.recent_dead_letters],
    }


def _without_content(dead_letter: dict[str, Any]) -> dict[str, Any]:
    # Named fields with scalar values only: a nested payload cannot ride along under one.
    return {
        k: v
        for k in DEAD_LETTER_FIELDS
        if isinstance(v := dead_letter.get(k), str | int | float | bool)
    }
