"""GET /chat/{id}/turns/{seq}, its …/stream and POST …/approval: long turns, the stream of
any turn, and the approvals long turns wait for.

A long turn starts with ``POST /chat/{id}`` and ``Prefer: respond-async`` (or when a tool call
needs approval); its state is read here (``?agent=``: in that agent's thread), and a
long-poll (``?wait=s``) returns as soon as it is no longer pending. The wait is woken at once
when the turn changes in this process, and asks ChatAgent again every ``POLL_S`` otherwise
(the turn may run in another replica).

``GET /chat/{id}/turns/{seq}/stream`` attaches to a turn, running or over, as Server-Sent
Events: its events from the turn's log (after ``Last-Event-ID``), then its end
(``api/turn_watch.py``); a long turn's client may watch it there instead of polling.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse

from agent_actors.actors.interfaces import ApprovalAnswer, TurnReply, TurnView
from agent_actors.api.deps import (
    Agent,
    Approver,
    CallerFirst,
    ChatActor,
    Deps,
    Runs,
    SettingsDep,
    Streams,
    ThreadId,
    UserId,
)
from agent_actors.api.http_errors import USER_ROUTE, responses
from agent_actors.api.routes.chat import (
    ACCEPTED,
    accepted,
    located,
    trace_response,
    turn_location,
)
from agent_actors.api.schemas import MAX_INT, ApprovalIn
from agent_actors.api.sse import SSE_RESPONSE, LastEventId, position
from agent_actors.api.turn_watch import watch_response

router = APIRouter(route_class=CallerFirst, tags=["chat"], responses=responses(*USER_ROUTE, 404))
POLL_S = 1.0
Seq = Annotated[int, Path(ge=1, le=MAX_INT, description="the turn's number (Turn-Seq)")]
# The longest ?wait= asked for; the wait itself stops at limits.turn_wait_max_s.
MAX_WAIT_S = 3600.0


@router.get("/chat/{id}/turns/{seq}", response_model=TurnView)
async def turn(
    chat_agent: ChatActor,
    thread: ThreadId,
    settings: SettingsDep,
    runs: Runs,
    seq: Seq,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=MAX_WAIT_S,
            description="seconds to wait while the turn is pending (bounded by a setting)",
        ),
    ] = 0,
) -> TurnView:
    """A turn: pending, awaiting_approval (the tool call and its deadline), done (the reply)
    or failed (the error's code and detail); ?wait= long-polls while it is pending."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(wait, settings.limits.turn_wait_max_s)
    while True:
        view = await chat_agent.turn(seq)
        left = deadline - loop.time()
        if view.status != "pending" or left <= 0:
            return view
        await runs.wait_for_change(thread, min(left, POLL_S))


@router.post(
    "/chat/{id}/turns/{seq}/approval",
    status_code=202,
    response_model=TurnView,
    responses={**ACCEPTED, **responses(409)},
)
async def approval(
    decision: ApprovalIn,
    chat_agent: ChatActor,
    user_id: UserId,
    agent: Agent,
    deps: Deps,
    approver: Approver,
    seq: Seq,
) -> JSONResponse:
    """Approve or deny the tool call a turn waits for, named by its call_id; the turn goes on
    (202, pending): a denied call is answered to the model as a tool error. The same approval
    sent again gets the same answer; another call named, or another decision on a decided
    call: 409 approval_stale, nothing changes. A key that may not approve: 403."""
    answer = ApprovalAnswer(
        seq=seq,
        call_id=decision.call_id,
        approve=decision.approve,
        note=decision.note,
        by=approver,
    )
    view = await chat_agent.decide_approval(answer)
    reply = TurnReply(role="assistant", content="", seq=seq, turn=view)
    return accepted(user_id, reply, agent=located(deps, agent))


@router.get(
    "/chat/{id}/turns/{seq}/stream",
    response_class=EventSourceResponse,
    response_model=None,
    responses={200: SSE_RESPONSE, **responses(422)},
)
async def turn_stream(
    deps: Deps,
    chat_agent: ChatActor,
    thread: ThreadId,
    user_id: UserId,
    agent: Agent,
    settings: SettingsDep,
    hub: Streams,
    runs: Runs,
    seq: Seq,
    last_event_id: LastEventId = None,
) -> EventSourceResponse:
    """A turn's stream, running or over: its events (after Last-Event-ID), then done, pending
    or error; a finished turn's events again (or its reply as one token)."""
    after = 0 if last_event_id is None else position(last_event_id, seq)[1]
    return watch_response(
        chat_agent,
        hub.log,
        runs,
        thread,
        seq,
        after,
        location=turn_location(user_id, seq, located(deps, agent)),
        limit_s=settings.streams.watch_max_s,
        ping_s=settings.streams.ping_s,
        headers=trace_response(),
    )
