"""POST /chat/{id} and GET /chat/{id}/history: the conversation."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from opentelemetry import trace

from agent_actors import metrics
from agent_actors.actors.clients import ChatAgentClient
from agent_actors.actors.interfaces import HistoryQuery, HistoryView, TurnReply, TurnRequest
from agent_actors.api.deps import ChatActor, SettingsDep
from agent_actors.api.errors import USER_ROUTE, responses
from agent_actors.api.schemas import ChatReply, MessageIn
from agent_actors.errors import AgentActorsError, ContentTooLarge, InvalidInput
from agent_actors.models import ChatMessage, is_unicode_text
from agent_actors.settings import Settings

router = APIRouter(tags=["chat"], responses=responses(*USER_ROUTE))
# What a turn can answer besides a user route's errors.
TURN_ERRORS = responses(409, 413, 502, 504)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="repeat a request with the same key: the committed turn comes back, once",
    ),
]
# Answered on a repeat of a committed turn (the turn was not run again).
REPLAYED_HEADER = "Idempotent-Replayed"
# The turn's number in its conversation (1, 2, ...): a header, so the body keeps the
# tutorial's exact shape.
SEQ_HEADER = "Turn-Seq"


def trace_response() -> dict[str, str]:
    """W3C trace context's ``traceresponse`` header naming the trace this request is in, so a
    client (the inspector page) can link to it; none when the request is not traced."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid or not context.trace_flags.sampled:
        return {}
    ids = f"{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    return {"traceresponse": f"00-{ids}"}


def turn_request(
    message: MessageIn, key: str | None, settings: Settings, stream_id: str | None = None
) -> TurnRequest:
    """ChatAgent's ProcessMessage argument, once the message and key are known to be valid."""
    limits = settings.limits
    if not message.content.strip():
        raise InvalidInput("content must not be empty")
    if len(message.content) > limits.max_content_chars:
        raise ContentTooLarge(
            f"content has {len(message.content)} characters; "
            f"the limit is {limits.max_content_chars}"
        )
    if not is_unicode_text(message.content):
        raise InvalidInput("content is not valid Unicode text (it has a lone surrogate)")
    if key is not None and (
        not 1 <= len(key) <= limits.max_idempotency_key_chars or not key.isprintable()
    ):
        raise InvalidInput(
            f"an Idempotency-Key has 1 to {limits.max_idempotency_key_chars} printable characters"
        )
    return TurnRequest(
        role=message.role,
        content=message.content,
        stream_id=stream_id,
        idempotency_key=key,
        request_id=uuid.uuid4().hex,
    )


async def metered_turn(chat_agent: ChatAgentClient, request: TurnRequest) -> TurnReply:
    """ChatAgent's turn, counted by outcome and timed (``GET /metrics``)."""
    started = time.perf_counter()
    outcome = "internal_error"
    try:
        reply = await chat_agent.process_message(request)
        outcome = "replayed" if reply.replayed else "ok"
        return reply
    except AgentActorsError as exc:
        outcome = exc.code
        raise
    except asyncio.CancelledError:
        outcome = "cancelled"
        raise
    finally:
        metrics.TURNS.labels(outcome).inc()
        metrics.TURN_SECONDS.observe(time.perf_counter() - started)


@router.post("/chat/{id}", response_model=ChatReply, responses=TURN_ERRORS)
async def chat(
    message: MessageIn,
    chat_agent: ChatActor,
    settings: SettingsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ChatReply:
    """Send a user message to ChatAgent(id); answers with the assistant's reply."""
    reply = await metered_turn(chat_agent, turn_request(message, idempotency_key, settings))
    response.headers[SEQ_HEADER] = str(reply.seq)
    response.headers.update(trace_response())
    if reply.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return ChatReply(response=ChatMessage(role=reply.role, content=reply.content))


@router.get("/chat/{id}/history", response_model=HistoryView)
async def history(
    chat_agent: ChatActor,
    settings: SettingsDep,
    limit: Annotated[int | None, Query(ge=1)] = None,
    before: Annotated[int | None, Query(ge=0)] = None,
) -> HistoryView:
    """The latest entries of the conversation (default: the history view); page with ?before=."""
    limit = min(limit or settings.limits.history_view, settings.limits.history_view_max)
    return await chat_agent.history(HistoryQuery(limit=limit, before=before))
