"""``POST /subscribe``: daprd delivers each ConversationUpdated here; Memory applies it.

One delivery per turn, so it is served as a plain ASGI middleware, as ``actor_calls.py`` serves
actor methods: FastAPI's routing, dependencies and response validation were about a twentieth
of the app's CPU per turn for a handler that reads one JSON body and answers one of three
words. The subscription's other route, the rare dead letter, stays a route
(``api/routes/subscription.py``).

Every answer is one of Dapr's statuses: SUCCESS (applied, or a duplicate), RETRY (transient:
Memory could not be reached; the resiliency policy retries), DROP (malformed: Dapr forwards it
to the dead-letter topic). Never a 200 with an error text, which Dapr counts as success.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from agent_actors import logs
from agent_actors.actors.proxies import MemoryAgentClient
from agent_actors.actors.services import ActorDeps
from agent_actors.api.middleware.plain_asgi import read_body, respond
from agent_actors.api.schemas import SubscriptionStats
from agent_actors.errors import AgentActorsError, InvalidInput
from agent_actors.events.conversation_updated import SubscriptionStatus, parse_event, why_unreadable

log = logging.getLogger(__name__)
SUBSCRIBE_PATH = "/subscribe"
JSON = b"application/json"


class EventDeliveries:
    """``POST /subscribe`` (ConversationUpdated) without FastAPI's routing; the rest passes."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != SUBSCRIBE_PATH or scope["method"] != "POST":
            await self._app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            return  # daprd went away before the whole request came: nothing to answer
        state = scope["app"].state
        try:
            delivery = json.loads(body)
        except (ValueError, RecursionError):  # nested past the parser's depth: unreadable too
            delivery = None  # answered DROP below, as any unreadable event
        if is_bulk(delivery):
            answer = await on_bulk(delivery["entries"], state.deps, state.subscription_stats)
            await respond(send, 200, json.dumps({"statuses": answer}).encode(), JSON)
            return
        status = await on_conversation_updated(delivery, state.deps, state.subscription_stats)
        await respond(send, 200, b'{"status":"%s"}' % status.value.encode(), JSON)


def is_bulk(delivery: Any) -> bool:
    """A bulk delivery (``bulkSubscribe`` in components/subscription.yaml): daprd's envelope
    of several CloudEvents, each an entry answered by its own status."""
    return isinstance(delivery, dict) and isinstance(delivery.get("entries"), list)


async def on_bulk(
    entries: list[Any], deps: ActorDeps, stats: SubscriptionStats
) -> list[dict[str, str]]:
    """Each entry's status, as one delivery of it would be answered: SUCCESS, RETRY (daprd
    retries that entry alone, then dead-letters it) or DROP. The entries are applied at once,
    as daprd's concurrent single deliveries were (one user's wait on its Memory's lock)."""
    readable = [e for e in entries if isinstance(e, dict) and isinstance(e.get("entryId"), str)]
    statuses = await asyncio.gather(*(entry_status(e.get("event"), deps, stats) for e in readable))
    return [
        {"entryId": e["entryId"], "status": s.value}
        for e, s in zip(readable, statuses, strict=True)
    ]


async def entry_status(
    delivery: Any, deps: ActorDeps, stats: SubscriptionStats
) -> SubscriptionStatus:
    """One bulk entry's status. A failure no domain error names is that entry's RETRY, not a
    500 for the whole batch: daprd would deliver every entry again, the applied ones too, and
    the other entries' results would be lost."""
    try:
        return await on_conversation_updated(delivery, deps, stats)
    except Exception:
        stats.retried += 1
        log.exception("a bulk entry's memory update failed unexpectedly, RETRY")
        return SubscriptionStatus.RETRY


async def on_conversation_updated(
    delivery: Any, deps: ActorDeps, stats: SubscriptionStats
) -> SubscriptionStatus:
    """Dapr delivers ConversationUpdated here (a CloudEvent, parsed from JSON; None when the
    body was not JSON); MemoryAgentActor applies it."""
    stats.received += 1
    try:
        if delivery is None:
            raise ValueError("the body is not JSON")
        event = parse_event(delivery, deps.settings.limits.max_id_chars)
    except (ValueError, ValidationError, InvalidInput) as exc:
        stats.dropped += 1
        log.warning(
            "dropping a malformed event (to the dead-letter topic): %s", why_unreadable(exc)
        )
        return SubscriptionStatus.DROP
    logs.bind(user=event.user_id, seq=event.seq)
    log.debug("received event user=%s seq=%d", event.user_id, event.seq)
    try:
        await MemoryAgentClient(deps.proxies, event.user_id).update(event)
    except AgentActorsError as exc:
        stats.retried += 1
        log.warning(
            "user=%s seq=%d: memory update failed, RETRY: %s", event.user_id, event.seq, exc
        )
        return SubscriptionStatus.RETRY
    return SubscriptionStatus.SUCCESS
