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

Every event has the id ``<seq>-<pos>``, its position in the turn's stream as the turn's log
numbered it (``streams/turn_log.py``; counted here when there is no log). With the log, the
end of the stream is read from it (``api/turn_watch.py``: what the relay had not brought yet,
and the check that the client holds the committed reply). The same POST with
``Last-Event-ID`` starts no turn: it is a reconnect, answered as
``GET /chat/{id}/turns/{seq}/stream`` answers.

sse-starlette writes the stream: it sends a ``: ping`` comment every ``streams.ping_s`` while
the model is silent (a tool call, a slow first token), so proxies and load balancers that
close idle connections keep this one open, and it notices a client that left.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

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
from agent_actors.api.sse import SSE_RESPONSE, LastEventId, position, sse
from agent_actors.api.turn_watch import Ending, done, failed, watch, watch_response
from agent_actors.errors import AgentActorsError
from agent_actors.streams.hub import StreamEvent
from agent_actors.streams.turn_log import event_id

router = APIRouter(route_class=CallerFirst, tags=["chat"])


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


def outcome(turn: asyncio.Task[TurnReply], user_id: str, agent: str | None = None) -> Ending:
    """The end of a turn that ended after tokens were sent."""
    try:
        reply = turn.result()
    except AgentActorsError as exc:
        return failed(exc)
    if reply.turn is not None:
        # Not over: a tool call waits for approval; the turn goes on at its location.
        location = turn_location(user_id, reply.seq, agent)
        return Ending("pending", {**reply.turn.model_dump(mode="json"), "location": location})
    return done(reply.seq, reply.role, reply.content)


@dataclass
class Numbering:
    """The ids of a live stream's events: their turn's seq and position as the log numbered
    them (``logged``), or as counted here (no log: a reconnect then gets the committed reply).
    ``intact``: every event came, in order (else the tail sends the committed reply)."""

    logged: bool
    seq: int = 0
    pos: int = 0
    tokens: int = 0
    intact: bool = True
    # The text sent so far, resets applied: when it spells the reply, the end needs no read
    # of the whole log (turn_watch.watch).
    held: list[str] = field(default_factory=list)

    def sse(self, event: StreamEvent) -> ServerSentEvent:
        self.seq = event.seq or self.seq
        self.tokens += event.kind == "token"
        if event.kind == "reset":
            self.held.clear()
        elif event.kind == "token":
            self.held.append(event.text)
        if not self.logged:
            self.pos += 1
        elif event.pos != self.pos + 1:
            # Unnumbered (the log could not take it) or out of order (the relay dropped one).
            self.intact = False
            self.pos = max(self.pos, event.pos)
        else:
            self.pos = event.pos
        data = {"text": event.text} if event.kind == "token" else {}
        return sse(event.kind, data, event_id(self.seq, self.pos) if self.seq else None)

    def final(self, ending: Ending, seq: int | None = None) -> ServerSentEvent:
        seq = seq or self.seq
        return sse(ending.name, ending.data, event_id(seq, self.pos + 1) if seq else None)


@router.post(
    "/chat/{id}/stream",
    response_class=EventSourceResponse,
    response_model=None,
    responses={200: SSE_RESPONSE, **ACCEPTED, **responses(*USER_ROUTE, 409, 413, 422, 502, 504)},
)
async def chat_stream(
    message: MessageIn,
    deps: Deps,
    user_id: UserId,
    settings: SettingsDep,
    hub: Streams,
    running: StreamTurns,
    idempotency_key: IdempotencyKey = None,
    last_event_id: LastEventId = None,
) -> EventSourceResponse | JSONResponse:
    """Send a user message; the reply streams back as Server-Sent Events, then the turn. With
    Last-Event-ID: no new turn, the rest of that event's turn (a client reconnecting)."""
    if last_event_id is not None:
        seq, after = position(last_event_id)
        thread, agent = await thread_of(deps, user_id, message.agent)
        return watch_response(
            ChatAgentClient(deps.proxies, thread),
            hub.log,
            deps.runs,
            thread,
            seq,
            after,
            location=turn_location(user_id, seq, agent),
            limit_s=settings.streams.watch_max_s,
            ping_s=settings.streams.ping_s,
            headers=trace_response(),
        )
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

    async def events() -> AsyncIterator[ServerSentEvent]:
        metrics.ACTIVE_STREAMS.inc()
        ids = Numbering(logged=hub.log is not None)
        try:
            event = first or await next_event(queue, turn)
            while event is not None:
                yield ids.sse(event)
                event = await next_event(queue, turn)
            async for tail in ending(ids):
                yield tail
        finally:
            metrics.ACTIVE_STREAMS.dec()
            await hub.close(stream_id)

    async def ending(ids: Numbering) -> AsyncIterator[ServerSentEvent]:
        """The end: with a log, what it has after the last event sent and the check that the
        client holds the reply (turn_watch.py); else the reply as one token if none came."""
        end = outcome(turn, user_id, agent)
        if end.content is None:
            yield ids.final(end)
            return
        reply = turn.result()
        if hub.log is not None:
            closed: asyncio.Future[Ending] = asyncio.get_running_loop().create_future()
            closed.set_result(end)
            same_turn = ids.seq in (0, reply.seq)
            holding, intact = ids.tokens > 0 or not ids.intact, ids.intact and same_turn
            pos = ids.pos if same_turn else 0
            async for tail in watch(
                hub.log,
                thread,
                reply.seq,
                pos,
                closed,
                holding=holding,
                intact=intact,
                held=ids.held if intact else None,
            ):
                yield tail
            return
        if not ids.tokens:
            # A quiet turn that never streamed: its reply as one token.
            yield ids.sse(StreamEvent("token", reply.content, reply.seq))
        yield ids.final(end, reply.seq)

    return EventSourceResponse(
        events(),
        ping=settings.streams.ping_s,
        sep="\n",
        headers=trace_response(),
    )
