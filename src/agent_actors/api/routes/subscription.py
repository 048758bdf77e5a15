"""``POST /subscribe/dead-letter``: the events Dapr gave up on (``components/subscription.yaml``).

Dead letters are recorded in the state store (``store/dead_letters.py``), never with their
content, and answered with one of Dapr's statuses as ``/subscribe`` is. ``/subscribe`` itself,
one delivery per turn, is served before FastAPI's routing
(``api/middleware/event_deliveries.py``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError

from agent_actors import metrics
from agent_actors.actors.proxies import MemoryAgentClient
from agent_actors.api.deps import DeadLetters, Deps, Stats
from agent_actors.errors import (
    ActorUnavailable,
    AgentActorsError,
    InvalidInput,
    StoreUnavailable,
)
from agent_actors.events.conversation_updated import SubscriptionStatus, parse_event, why_unreadable
from agent_actors.models import ActorTypes
from agent_actors.store.dead_letters import DeadLetter, UnparsedDeadLetter
from agent_actors.store.history import META_KEY

log = logging.getLogger(__name__)
router = APIRouter(tags=["events"], include_in_schema=False)
# What Dapr does not say about a valid event it dead-lettered, but the only way one gets there.
RETRIES_EXHAUSTED = "not applied after the resiliency retries"


@router.post("/subscribe/dead-letter")
async def on_dead_letter(
    request: Request, deps: Deps, stats: Stats, store: DeadLetters
) -> dict[str, str]:
    """Events Dapr gave up on (malformed, or failing after every retry): recorded, counted."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    envelope = body if isinstance(body, dict) else {}
    summary: dict[str, Any] = {
        k: v[:200] for k in ("id", "type", "topic") if isinstance(v := envelope.get(k), str)
    }
    now = datetime.now(UTC)
    try:
        try:
            event = parse_event(body, deps.settings.limits.max_id_chars)
        except (ValidationError, InvalidInput) as exc:
            summary["reason"] = why_unreadable(exc)
            await store.record_unparsed(
                UnparsedDeadLetter(
                    event_id=summary.get("id"),
                    type=summary.get("type"),
                    topic=summary.get("topic"),
                    at=now,
                    reason=summary["reason"],
                )
            )
        else:
            summary.update(user_id=event.user_id, seq=event.seq, reason=RETRIES_EXHAUSTED)
            if await erased(deps, event.user_id):
                # Deleted (or erased by retention) while the event was in pub/sub's retries:
                # recorded, the letter would bring the user's data back after the erase.
                metrics.DEAD_LETTERS.labels("erased").inc()
                log.info("dead letter of an erased conversation dropped: %s", summary)
                return {"status": SubscriptionStatus.SUCCESS}
            letter = DeadLetter(seq=event.seq, event_id=summary.get("id"), at=now)
            await store.record(event.user_id, letter)
    except (StoreUnavailable, ActorUnavailable) as exc:
        # The store, or ChatAgent's state (erased?), could not be read: Dapr tries again.
        log.warning("could not record dead letter %s, RETRY: %s", summary, exc)
        return {"status": SubscriptionStatus.RETRY}
    stats.dead_letters += 1
    metrics.DEAD_LETTERS.labels("turn" if "user_id" in summary else "unparsed").inc()
    stats.recent_dead_letters.append(summary)
    log.warning("dead letter recorded: %s", summary)
    if "user_id" in summary:
        await schedule_catch_up(deps, str(summary["user_id"]))
    return {"status": SubscriptionStatus.SUCCESS}


async def erased(deps: Deps, user_id: str) -> bool:
    """Whether ``user_id``'s conversation is gone: ChatAgent has no saved ``meta`` (a dead
    letter is of a committed turn, and a commit saves it), read without its turn lock."""
    if deps.saved_state is None:
        return False
    found, _raw = await deps.saved_state(ActorTypes.CHAT, user_id, META_KEY)
    return not found


async def schedule_catch_up(deps: Deps, user_id: str) -> None:
    """Memory catches up from the history once it can (a reminder); the letter stays listed
    for replay either way, so a failure here is only logged."""
    try:
        await MemoryAgentClient(deps.proxies, user_id).schedule_catch_up()
    except AgentActorsError as exc:
        log.warning("user=%s: could not schedule memory's catch-up: %s", user_id, exc)
