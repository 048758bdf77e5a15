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

import json
import logging

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
        status = await on_conversation_updated(body, state.deps, state.subscription_stats)
        await respond(send, 200, b'{"status":"%s"}' % status.value.encode(), JSON)


async def on_conversation_updated(
    body: bytes, deps: ActorDeps, stats: SubscriptionStats
) -> SubscriptionStatus:
    """Dapr delivers ConversationUpdated here; MemoryAgentActor applies it."""
    stats.received += 1
    try:
        event = parse_event(json.loads(body), deps.settings.limits.max_id_chars)
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
