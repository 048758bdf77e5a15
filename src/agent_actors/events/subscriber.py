"""The subscription routes declared in ``components/subscription.yaml``.

Every answer is one of Dapr's statuses: SUCCESS (applied, or a duplicate), RETRY (transient:
Memory could not be reached; the resiliency policy retries), DROP (malformed: Dapr forwards it
to the dead-letter topic). Never a 200 with an error text, which Dapr counts as success.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Annotated, Any

from dapr.clients.exceptions import DaprInternalError
from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError

from agent_actors.actors import naming
from agent_actors.actors.boundary import unwrap
from agent_actors.actors.deps import ActorDeps
from agent_actors.actors.interfaces import MemoryAgentInterface
from agent_actors.api.ids import check_user_id
from agent_actors.errors import AgentActorsError, InvalidInput
from agent_actors.events.schemas import ConversationUpdated, SubscriptionStatus

log = logging.getLogger(__name__)
router = APIRouter(tags=["events"])


@dataclass
class SubscriptionStats:
    received: int = 0
    dropped: int = 0
    retried: int = 0
    dead_letters: int = 0
    recent_dead_letters: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=20))


def get_deps(request: Request) -> ActorDeps:
    deps: ActorDeps = request.app.state.deps
    return deps


def get_stats(request: Request) -> SubscriptionStats:
    stats: SubscriptionStats = request.app.state.subscription_stats
    return stats


Deps = Annotated[ActorDeps, Depends(get_deps)]
Stats = Annotated[SubscriptionStats, Depends(get_stats)]


def parse_event(body: Any, max_id_chars: int) -> ConversationUpdated:
    if not isinstance(body, dict):
        raise InvalidInput("the body is not a CloudEvent object")
    event = ConversationUpdated.model_validate(body.get("data"))
    check_user_id(event.user_id, max_id_chars)
    return event


@router.post("/subscribe")
async def on_conversation_updated(request: Request, deps: Deps, stats: Stats) -> dict[str, str]:
    """Dapr delivers ConversationUpdated here; MemoryAgentActor applies it."""
    stats.received += 1
    try:
        event = parse_event(await request.json(), deps.settings.limits.max_id_chars)
    except (ValueError, ValidationError, InvalidInput) as exc:
        stats.dropped += 1
        log.warning("dropping a malformed event (to the dead-letter topic): %s", str(exc)[:300])
        return {"status": SubscriptionStatus.DROP}
    log.info("received event user=%s seq=%d", event.user_id, event.seq)
    proxy = deps.proxies.create(
        naming.MEMORY, naming.memory_id(event.user_id), MemoryAgentInterface
    )
    try:
        unwrap(await proxy.UpdateMemory(event.model_dump(mode="json")))
    except (DaprInternalError, AgentActorsError) as exc:
        stats.retried += 1
        log.warning(
            "user=%s seq=%d: memory update failed, RETRY: %s", event.user_id, event.seq, exc
        )
        return {"status": SubscriptionStatus.RETRY}
    return {"status": SubscriptionStatus.SUCCESS}


@router.post("/subscribe/dead-letter")
async def on_dead_letter(request: Request, stats: Stats) -> dict[str, str]:
    """Events Dapr gave up on (malformed, or failing after every retry) are counted here."""
    try:
        body = await request.json()
    except ValueError:
        body = {"unparsed": (await request.body())[:500].decode(errors="replace")}
    stats.dead_letters += 1
    summary = (
        {"id": body.get("id"), "data": str(body.get("data"))[:300]}
        if isinstance(body, dict)
        else {"data": str(body)[:300]}
    )
    stats.recent_dead_letters.append(summary)
    log.warning("dead-lettered event %s", summary)
    return {"status": SubscriptionStatus.SUCCESS}
