"""GET /events/...: the subscription's counters and its unreadable dead letters (admin).

A user's own dead letters are under ``/memory/{id}/dead-letters`` (``memory.py``): they are
turns Memory missed. These two views are service-wide, so they need an admin key.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from agent_actors.api.deps import AdminOnly, DeadLetters, Stats
from agent_actors.api.http_errors import responses
from agent_actors.api.schemas import EventStats
from agent_actors.store.dead_letters import UnparsedDeadLetters

# Tags per route, as they were: the counters are listed with the read-only views ("inspect" in
# /docs), the unreadable dead letters with the other dead letters ("memory").
router = APIRouter()
# What a dead letter may show: where it came from and which turn, never the messages.
DEAD_LETTER_FIELDS = ("id", "type", "topic", "user_id", "seq", "reason")


@router.get(
    "/events/stats", tags=["inspect"], dependencies=[AdminOnly], responses=responses(401, 403)
)
async def event_stats(stats: Stats) -> EventStats:
    """Subscription counters: received, dropped (malformed), retried, dead-lettered (admin)."""
    return EventStats(
        received=stats.received,
        dropped=stats.dropped,
        retried=stats.retried,
        dead_letters=stats.dead_letters,
        recent_dead_letters=[_without_content(d) for d in stats.recent_dead_letters],
    )


@router.get(
    "/events/dead-letters",
    tags=["memory"],
    dependencies=[AdminOnly],
    responses=responses(401, 403, 503),
)
async def unparsed_dead_letters(store: DeadLetters) -> UnparsedDeadLetters:
    """Dead letters that were not a readable ConversationUpdated: why, never content (admin)."""
    return await store.unparsed()


def _without_content(dead_letter: dict[str, Any]) -> dict[str, Any]:
    # Named fields with scalar values only: a nested payload cannot ride along under one.
    return {
        k: v
        for k in DEAD_LETTER_FIELDS
        if isinstance(v := dead_letter.get(k), str | int | float | bool)
    }
