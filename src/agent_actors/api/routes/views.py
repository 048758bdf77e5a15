"""Read-only views of ResponseAgent, MemoryAgentActor and the subscription."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from agent_actors.api.deps import AdminOnly, MemoryActor, ResponseActor, Stats
from agent_actors.api.errors import USER_ROUTE, responses
from agent_actors.api.schemas import CountOut, EventStats, MemoryOut

router = APIRouter(tags=["inspect"])
USER_ERRORS = responses(*USER_ROUTE)


@router.get("/response/{id}/count", responses=USER_ERRORS)
async def count(response_agent: ResponseActor) -> CountOut:
    """How many replies ResponseAgent({id}) has given."""
    return CountOut(count=await response_agent.message_count())


@router.get("/memory/{id}", responses=USER_ERRORS)
async def memory(memory_agent: MemoryActor) -> MemoryOut:
    """MemoryAgentActor({id})'s window, oldest first."""
    return MemoryOut(memory=await memory_agent.window())


# What a dead letter may show: where it came from and which turn, never the messages.
DEAD_LETTER_FIELDS = ("id", "type", "topic", "user_id", "seq", "reason")


@router.get("/events/stats", dependencies=[AdminOnly], responses=responses(401, 403))
async def event_stats(stats: Stats) -> EventStats:
    """Subscription counters: received, dropped (malformed), retried, dead-lettered (admin)."""
    return EventStats(
        received=stats.received,
        dropped=stats.dropped,
        retried=stats.retried,
        dead_letters=stats.dead_letters,
        recent_dead_letters=[_without_content(d) for d in stats.recent_dead_letters],
    )


def _without_content(dead_letter: dict[str, Any]) -> dict[str, Any]:
    # Named fields with scalar values only: a nested payload cannot ride along under one.
    return {
        k: v
        for k in DEAD_LETTER_FIELDS
        if isinstance(v := dead_letter.get(k), str | int | float | bool)
    }
