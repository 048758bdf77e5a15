"""Read-only views of the other actors and of the subscription."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from agent_actors.actors import naming
from agent_actors.actors.boundary import unwrap
from agent_actors.actors.interfaces import MemoryAgentInterface, ResponseAgentInterface
from agent_actors.api.deps import Proxies, UserId
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


@router.get("/events/stats")
async def event_stats(stats: Stats) -> dict[str, Any]:
    """Subscription counters: received, dropped (malformed), retried, dead-lettered."""
    return {
        "received": stats.received,
        "dropped": stats.dropped,
        "retried": stats.retried,
        "dead_letters": stats.dead_letters,
        "recent_dead_letters": list(stats.recent_dead_letters),
    }
