"""POST /chat/{id}/stream: the reply's tokens as Server-Sent Events, then the committed turn.

The turn goes through ChatAgent.ProcessMessage exactly as POST /chat/{id} does (same history,
count, event and memory; serial per user); the only addition is a stream id, which
ResponseAgent uses to push tokens into this process's ``StreamHub`` while the model writes.

Events: ``token`` {"text"} (append), ``reset`` {} (drop the tokens so far: the model turned to
a tool or a request was retried), then ``done`` {"role", "content", "seq"} (the committed
reply), ``pending`` {the turn's state, "location"} (a tool call waits for approval: the
turn goes on at ``location``) or ``error`` {"detail", "code", "status"}. A turn that pauses
for an approval before any token is answered 202 as ``POST /chat/{id}``. A failure before the
first token (within
``streams.ping_s``) is an ordinary JSON error with its 5xx status. If no token arrives
(offline responder, or the actor lives in another replica without a relay) the committed
reply is sent as one token. A client that leaves
early does not cancel the turn: it runs to its commit, so the history stays consistent.

sse-starlette writes the stream: it sends a ``: ping`` comment every ``streams.ping_s`` while
the model is silent (a tool call, a slow first token), so proxies and load balancers that
close idle connections keep this one open, and it notices a client that left.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse, ServerSentEvent

from agent_actors import metrics
from agent_actors.actors.interfaces import TurnReply
from agent_actors.actors.proxies import ChatAgentClient
from agent_actors.api.deps import (
    CallerFirst,
    Deps,
    SettingsDep,
    Streams,
    StreamTurns,
    UserId,
)
from agent_actors.api.http_errors import USER_ROUTE, responses
from agent_actors.api.routes.chat import (
    ACCEPTED,
    IdempotencyKey,
    accepted,
    metered_turn,
    thread_of,
    trace_response,
    turn_location,
    turn_request,
)
from agent_actors.api.schemas import MessageIn
from agent_actors.errors import AgentActorsError
from agent_actors.streams.hub import StreamEvent

router = APIRouter(route_class=CallerFirst, tags=["chat"])


def _event(name: str, required: dict[str, str], *, closed: bool = True) -> dict[str, Any]:
    """One event's ``data``: the fields it always has (``closed``: and no others)."""
    schema: dict[str, Any] = {
        "title": name,
        "type": "object",
        "required": list(required),
        "properties": {field: {"type": kind} for field, kind in required.items()},
    }
    if closed:
        schema["additionalProperties"] = False
    return schema


# What each event's data holds (``pending`` carries the turn's whole state, as GET
# /chat/{id}/turns/{seq} shows it, and its location).
EVENT_DATA = {
    "token": _event("token", {"text": "string"}),
    "reset": _event("reset", {}),
    "done": _event("done", {"role": "string", "content": "string", "seq": "integer"}),
    "pending": _event("pending", {"status": "string", "location": "string"}, closed=False),
    "error": _event("error", {"detail": "string", "code": "string", "status": "integer"}),
}
SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": list(EVENT_DATA)},
        "data": {
            "type": "string",
            "description": "a JSON object; its fields depend on the event",
            "contentMediaType": "application/json",
            "contentSchema": {"oneOf": list(EVENT_DATA.values())},
        },
    },
}
SSE_RESPONSE: dict[str, Any] = {
    "description": "Server-Sent Events: `token` {text} (append), `reset` {} (drop the tokens "
    "so far), then `done` {role, content, seq} or `error` {detail, code, status}",
    "content": {
        "text/event-stream": {
            # OpenAPI 3.1 reads an event stream's `schema` as the schema of one event.
            "schema": SSE_EVENT,
            "example": 'event: token\ndata: {"text": "Hel"}\n\nevent: token\ndata: '
            '{"text": "lo"}\n\nevent: done\ndata: {"role": "assistant", "content": '
            '"Hello", "seq": 1}\n\n',
        }
    },
}


def sse(event: str, data: dict[str, Any]) -> ServerSentEvent:
    return ServerSentEvent(event=event, data=json.dumps(data), sep="\n")


# next_event's answer when ``timeout`` passed with no event and the turn still running.
QUIET = StreamEvent("reset")


async def next_event(
    queue: asyncio.Queue[StreamEvent],
    turn: asyncio.Task[TurnReply],
    wait_s: float | None = None,
) -> StreamEvent | None:
    """The next token event, None once the turn is over and nothing is left queued, or
    ``QUIET`` after ``wait_s``. (Never cancelled from outside for a timeout: a getter
    cancelled just after it took an event would lose that token.)"""
    if not queue.empty() or turn.done():
        return queue.get_nowait() if not queue.empty() else None
    getter = asyncio.ensure_future(queue.get())
    try:
        await asyncio.wait({getter, turn}, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        # Also when the client left (this await is cancelled): no getter outlives the stream.
        if not getter.done():
            getter.cancel()
    if getter.done() and not getter.cancelled():
        return getter.result()
    if not queue.empty():
        return queue.get_nowait()
    return None if turn.done() else QUIET


async def first_event(
    queue: asyncio.Queue[StreamEvent], turn: asyncio.Task[TurnReply], quiet_s: float
) -> StreamEvent | None:
    """The first token, or None: the turn ended without one, or it stayed quiet for
    ``quiet_s`` (then the stream starts anyway and pings while the model thinks, so a proxy
    does not cut it; a failure from then on is an ``error`` event)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + quiet_s
    while True:
        event = await next_event(queue, turn, max(0.0, deadline - loop.time()))
        # A reset before any token (a retried request) means nothing yet: keep waiting, so
        # a turn that then fails still answers with its plain 5xx.
        if event is QUIET:
            return None
        if event is None or event.kind != "reset":
            return event


def outcome(
    turn: asyncio.Task[TurnReply], user_id: str, agent: str | None = None
) -> ServerSentEvent:
    """The final event of a turn that ended after tokens were sent."""
    try:
        reply = turn.result()
    except AgentActorsError as exc:
        return sse("error", {"detail": exc.message, "code": exc.code, "status": exc.status})
    if reply.turn is not None:
        # Not over: a tool call waits for approval; the turn goes on at its location.
        location = turn_location(user_id, reply.seq, agent)
        return sse("pending", {**reply.turn.model_dump(mode="json"), "location": location})
    return sse("done", {"role": reply.role, "content": reply.content, "seq": reply.seq})


@router.post(
    "/chat/{id}/stream",
    response_class=EventSourceResponse,
    response_model=None,
    responses={200: SSE_RESPONSE, **ACCEPTED, **responses(*USER_ROUTE, 409, 413, 502, 504)},
)
async def chat_stream(
    message: MessageIn,
    deps: Deps,
    user_id: UserId,
    settings: SettingsDep,
    hub: Streams,
    running: StreamTurns,
    idempotency_key: IdempotencyKey = None,
) -> EventSourceResponse | JSONResponse:
    """Send a user message; the reply streams back as Server-Sent Events, then the turn."""
    stream_id = uuid.uuid4().hex
    request = turn_request(message, idempotency_key, settings, stream_id=stream_id)
    thread, agent = await thread_of(deps, user_id, message.agent)
    queue = await hub.open(stream_id)
    turn = asyncio.create_task(metered_turn(ChatAgentClient(deps.proxies, thread), request))
    running.add(turn)
    turn.add_done_callback(running.discard)
    try:
        first = await first_event(queue, turn, settings.streams.ping_s)
    except BaseException:
        await hub.close(stream_id)
        raise
    if first is None and turn.done():
        await hub.close(stream_id)
        # No token: the turn's outcome is known, so errors keep their HTTP status.
        reply = turn.result()
        if reply.turn is not None:
            # A tool call waits for approval: the same 202 as POST /chat/{id} answers.
            return accepted(user_id, reply, agent=agent)
        first = StreamEvent("token", reply.content)

    async def events() -> AsyncIterator[ServerSentEvent]:
        metrics.ACTIVE_STREAMS.inc()
        tokens = 0
        try:
            event = first or await next_event(queue, turn)
            while event is not None:
                tokens += event.kind == "token"
                yield sse(event.kind, {"text": event.text} if event.kind == "token" else {})
                event = await next_event(queue, turn)
            if not tokens and not turn.exception() and turn.result().turn is None:
                # A quiet turn that never streamed: its reply as one token, as above.
                yield sse("token", {"text": turn.result().content})
            yield outcome(turn, user_id, agent)
        finally:
            metrics.ACTIVE_STREAMS.dec()
            await hub.close(stream_id)

    return EventSourceResponse(
        events(),
        ping=settings.streams.ping_s,
        sep="\n",
        headers=trace_response(),
    )
