"""The subscription routes declared in ``components/subscription.yaml``.

Every answer is one of Dapr's statuses: SUCCESS (applied, or a duplicate), RETRY (transient:
Memory could not be reached; the resiliency policy retries), DROP (malformed: Dapr forwards it
to the dead-letter topic). Never a 200 with an error text, which Dapr counts as success.
Dead letters are recorded in the state store (``dead_letters.py``), never with their content.

``/subscribe`` gets one delivery per turn, so ``EventDeliveries`` serves it as a plain ASGI
middleware, as ``actor_calls.py`` serves actor methods: FastAPI's routing, dependencies and
response validation were about a twentieth of the app's CPU per turn for a handler that reads
one JSON body and answers one of three words. The dead-letter route, rare, stays a route.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from agent_actors import logs, metrics
from agent_actors.actors.proxies import MemoryAgentClient
from agent_actors.actors.services import ActorDeps
from agent_actors.api.deps import DeadLetters, Deps, Stats
from agent_actors.api.middleware.actor_calls import read_body, respond
from agent_actors.api.schemas import SubscriptionStats
from agent_actors.errors import AgentActorsError, InvalidInput, StoreUnavailable
from agent_actors.events.schemas import ConversationUpdated, SubscriptionStatus
from agent_actors.models import check_user_id
from agent_actors.store.dead_letters import DeadLetter, UnparsedDeadLetter

log = logging.getLogger(__name__)
router = APIRouter(tags=["events"], include_in_schema=False)
# What Dapr does not say about a valid event it dead-lettered, but the only way one gets there.
RETRIES_EXHAUSTED = "not applied after the resiliency retries"


def parse_event(body: Any, max_id_chars: int) -> ConversationUpdated:
    if not isinstance(body, dict):
        raise InvalidInput("the body is not a CloudEvent object")
    event = ConversationUpdated.model_validate(body.get("data"))
    check_user_id(event.user_id, max_id_chars)
    return event


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
            letter = DeadLetter(seq=event.seq, event_id=summary.get("id"), at=now)
            await store.record(event.user_id, letter)
    except StoreUnavailable as exc:
        log.warning("could not record dead letter %s, RETRY: %s", summary, exc)
        return {"status": SubscriptionStatus.RETRY}
    stats.dead_letters += 1
    metrics.DEAD_LETTERS.labels("turn" if "user_id" in summary else "unparsed").inc()
    stats.recent_dead_letters.append(summary)
    log.warning("dead letter recorded: %s", summary)
    if "user_id" in summary:
        await schedule_catch_up(deps, str(summary["user_id"]))
    return {"status": SubscriptionStatus.SUCCESS}


async def schedule_catch_up(deps: Deps, user_id: str) -> None:
    """Memory catches up from the history once it can (a reminder); the letter stays listed
    for replay either way, so a failure here is only logged."""
    try:
        await MemoryAgentClient(deps.proxies, user_id).schedule_catch_up()
    except AgentActorsError as exc:
        log.warning("user=%s: could not schedule memory's catch-up: %s", user_id, exc)


def why_unreadable(exc: Exception) -> str:
    """Which fields failed and how, never their values (they may be a user's messages)."""
    if isinstance(exc, InvalidInput):
        return exc.message[:200]
    if isinstance(exc, ValidationError):
        errors = exc.errors(include_input=False, include_url=False)[:5]
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'data'}: {e['type']}" for e in errors)
    return "the body is not JSON"
