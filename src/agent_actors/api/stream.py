"""POST /chat/{id}/stream: the reply's tokens as Server-Sent Events, then the committed turn.

The turn goes through ChatAgent.ProcessMessage exactly as POST /chat/{id} does (same history,
count, event and memory; serial per user); the only addition is a stream id, which
ResponseAgent uses to push tokens into this process's ``StreamHub`` while the model writes.

Events: ``token`` {"text"} (append), ``reset`` {} (drop the tokens so far: the model turned to
a tool or a request was retried), then ``done`` {"role", "content", "seq"} (the committed
reply) or ``error`` {"detail", "code", "status"}. A failure before the first token is an
ordinary JSON error with its 5xx status. If no token arrives (offline responder, or the actor
lives in another replica) the committed reply is sent as one token. A client that leaves
early does not cancel the turn: it runs to its commit, so the history stays consistent.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from agent_actors import metrics
from agent_actors.actors.interfaces import TurnReply
from agent_actors.api.chat import IdempotencyKey, metered_turn, trace_response, turn_request
from agent_actors.api.deps import ChatActor, SettingsDep
from agent_actors.api.errors import USER_ROUTE, responses
from agent_actors.api.schemas import MessageIn
from agent_actors.errors import AgentActorsError
from agent_actors.llm.streams import STREAMS, StreamEvent, StreamHub

router = APIRouter(tags=["chat"])
SSE_RESPONSE: dict[str, Any] = {
    "description": "Server-Sent Events: `token` {text} (append), `reset` {} (drop the tokens "
    "so far), then `done` {role, content, seq} or `error` {detail, code, status}",
    "content": {
        "text/event-stream": {
            "schema": {"type": "string"},
            "example": 'event: token\ndata: {"text": "Hel"}\n\nevent: token\ndata: '
            '{"text": "lo"}\n\nevent: done\ndata: {"role": "assistant", "content": '
            '"Hello", "seq": 1}\n\n',
        }
    },
}
# Turns whose client left keep running; holding the task keeps it from being collected.
_running: set[asyncio.Task[Any]] = set()


def get_hub() -> StreamHub:
    return STREAMS


Hub = Annotated[StreamHub, Depends(get_hub)]


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


async def next_event(
    queue: asyncio.Queue[StreamEvent], turn: asyncio.Task[TurnReply]
) -> StreamEvent | None:
    """The next token event, or None once the turn is over and nothing is left queued."""
    if not queue.empty() or turn.done():
        return queue.get_nowait() if not queue.empty() else None
    getter = asyncio.ensure_future(queue.get())
    try:
        await asyncio.wait({getter, turn}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        # Also when the client left (this await is cancelled): no getter outlives the stream.
        if not getter.done():
            getter.cancel()
    if getter.done() and not getter.cancelled():
        return getter.result()
    return queue.get_nowait() if not queue.empty() else None


def outcome(turn: asyncio.Task[TurnReply]) -> str:
    """The final event of a turn that ended after tokens were sent."""
    try:
        reply = turn.result()
    except AgentActorsError as exc:
        return sse("error", {"detail": exc.message, "code": exc.code, "status": exc.status})
    return sse("done", {"role": reply.role, "content": reply.content, "seq": reply.seq})


@router.post(
    "/chat/{id}/stream",
    response_class=StreamingResponse,
    responses={200: SSE_RESPONSE, **responses(*USER_ROUTE, 413, 502, 504)},
)
async def chat_stream(
    message: MessageIn,
    chat_agent: ChatActor,
    settings: SettingsDep,
    hub: Hub,
    idempotency_key: IdempotencyKey = None,
) -> StreamingResponse:
    """Send a user message; the reply streams back as Server-Sent Events, then the turn."""
    stream_id = uuid.uuid4().hex
    request = turn_request(message, idempotency_key, settings, stream_id=stream_id)
    queue = await hub.open(stream_id)
    turn = asyncio.create_task(metered_turn(chat_agent, request))
    _running.add(turn)
    turn.add_done_callback(_running.discard)
    try:
        first = await next_event(queue, turn)
        # A reset before any token (a retried request) means nothing yet: keep waiting, so a
        # turn that then fails still answers with its plain 5xx.
        while first is not None and first.kind == "reset":
            first = await next_event(queue, turn)
    except BaseException:
        await hub.close(stream_id)
        raise
    if first is None:
        await hub.close(stream_id)
        # No token: the turn's outcome is known, so errors keep their HTTP status.
        first = StreamEvent("token", turn.result().content)

    async def events() -> AsyncIterator[str]:
        metrics.ACTIVE_STREAMS.inc()
        try:
            event: StreamEvent | None = first
            while event is not None:
                yield sse(event.kind, {"text": event.text} if event.kind == "token" else {})
                event = await next_event(queue, turn)
            yield outcome(turn)
        finally:
            metrics.ACTIVE_STREAMS.dec()
            await hub.close(stream_id)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **trace_response()},
    )
