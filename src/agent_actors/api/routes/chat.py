"""POST /chat/{id} and GET /chat/{id}/history: the conversation."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from opentelemetry import trace
from pydantic import ValidationError

from agent_actors import metrics
from agent_actors.actors.interfaces import (
    HistoryQuery,
    HistoryView,
    TurnReply,
    TurnRequest,
    TurnView,
)
from agent_actors.actors.proxies import ChatAgentClient
from agent_actors.actors.services import ActorDeps
from agent_actors.actors.threads import checked_agent
from agent_actors.api.deps import (
    CallerFirst,
    ChatActor,
    Deps,
    SettingsDep,
    UserId,
    check_caller,
)
from agent_actors.api.http_errors import USER_ROUTE, responses
from agent_actors.api.schemas import MAX_INT, ChatReply, MessageIn
from agent_actors.errors import AgentActorsError, ContentTooLarge, InvalidInput
from agent_actors.models import AGENT_NAME, ChatMessage, is_unicode_text
from agent_actors.settings import Settings

router = APIRouter(route_class=CallerFirst, tags=["chat"], responses=responses(*USER_ROUTE))
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
    if message.agent is not None and not AGENT_NAME.fullmatch(message.agent):
        raise InvalidInput(
            "an agent's name has 1 to 64 letters, digits, '_', '.' or '-' (GET /agents)"
        )
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
        agent=message.agent,
    )


async def metered_turn(
    chat_agent: ChatAgentClient, request: TurnRequest, *, long: bool = False
) -> TurnReply:
    """ChatAgent's turn (``long``: a long turn started), counted by outcome and timed
    (``GET /metrics``)."""
    started = time.perf_counter()
    outcome = "internal_error"
    try:
        if long:
            reply = await chat_agent.start_turn(request)
        else:
            reply = await chat_agent.process_message(request)
        outcome = "replayed" if reply.replayed else "ok" if reply.turn is None else "accepted"
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


def turn_location(user_id: str, seq: int, agent: str | None = None) -> str:
    """Where a turn's state is read: with ``?agent=`` for another agent's thread than the
    default's, so a poll reaches the same thread."""
    where = f"/chat/{user_id}/turns/{seq}"
    return where if agent is None else f"{where}?agent={agent}"


async def thread_of(deps: ActorDeps, user_id: str, asked: str | None) -> tuple[str, str | None]:
    """The thread a turn naming ``asked`` goes to, and the agent its turns' locations name
    (None: the default's thread, the tutorial's plain locations)."""
    agent = checked_agent(deps.profiles, asked)
    thread = await deps.threads.thread_of(user_id, agent, deps.profiles.default)
    return thread, located(deps, agent)


def located(deps: ActorDeps, agent: str | None) -> str | None:
    """The agent a turn's Location names: none for the default's thread (the tutorial's)."""
    return None if agent == deps.profiles.default else agent


def wants_async(prefer: str | None) -> bool:
    """``Prefer: respond-async`` (RFC 7240; other preferences beside it are ignored)."""
    tokens = (p.split("=")[0].split(";")[0].strip().lower() for p in (prefer or "").split(","))
    return "respond-async" in tokens


def accepted(
    user_id: str, reply: TurnReply, *, agent: str | None = None, preference: bool = False
) -> JSONResponse:
    """202: the turn is not over (a long turn, or one waiting for an approval); its state is
    at ``Location`` (``agent``: of that agent's thread)."""
    assert reply.turn is not None
    headers = {
        "Location": turn_location(user_id, reply.seq, agent),
        SEQ_HEADER: str(reply.seq),
        **trace_response(),
    }
    if preference:
        headers["Preference-Applied"] = "respond-async"
    if reply.replayed:
        headers[REPLAYED_HEADER] = "true"
    return JSONResponse(reply.turn.model_dump(mode="json"), status_code=202, headers=headers)


ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {
        "model": TurnView,
        "description": "the turn goes on after this answer (`Prefer: respond-async`, or a tool "
        "call waiting for approval): poll `Location` (/chat/{id}/turns/{seq})",
    }
}
Prefer = Annotated[
    str | None,
    Header(
        description="`respond-async`: answer 202 at once with the turn's `Location` and write "
        "the reply in the background (for turns longer than a request should wait)"
    ),
]


async def chat(
    message: MessageIn,
    deps: Deps,
    user_id: UserId,
    settings: SettingsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    prefer: Prefer = None,
) -> ChatReply | JSONResponse:
    """Send a user message to ChatAgent(id), or to the thread of the agent it names; answers
    with the assistant's reply, or 202 and the turn's Location (`Prefer: respond-async`, or a
    tool call waiting for approval)."""
    long = wants_async(prefer)
    request = turn_request(message, idempotency_key, settings)
    thread, agent = await thread_of(deps, user_id, message.agent)
    reply = await metered_turn(ChatAgentClient(deps.proxies, thread), request, long=long)
    if reply.turn is not None:
        return accepted(user_id, reply, agent=agent, preference=long)
    response.headers[SEQ_HEADER] = str(reply.seq)
    response.headers.update(trace_response())
    if reply.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return ChatReply(response=ChatMessage(role=reply.role, content=reply.content))


class ChatRoute(CallerFirst):
    """``POST /chat/{id}``, the route of every turn: a well-formed request skips FastAPI's
    dependency solving and response serialization, which cost more per turn than the route's
    own work (docs/BENCHMARKS.md, "w1_vs_limit: four ideas tried"). It is still routed,
    documented and authorized as any route is (the caller is checked first, as
    ``CallerFirst`` does); anything unusual (a body that is not JSON, or not a valid
    ``MessageIn``, another content type) goes to FastAPI's own handler for its 422."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        plain = APIRoute.get_route_handler(self)

        async def fast(request: Request) -> Response:
            user_id = await check_caller(request, request.path_params["id"])
            message = await well_formed(request)
            if message is None:
                return await plain(request)  # the caller is checked: not again
            state = request.app.state
            headers = Response()  # what the route sets besides its body, as FastAPI's is
            del headers.headers["content-length"]
            answer = await chat(
                message,
                state.deps,
                user_id,
                state.settings,
                headers,
                request.headers.get("idempotency-key"),
                request.headers.get("prefer"),
            )
            if isinstance(answer, Response):
                return answer
            response = Response(answer.model_dump_json(), media_type="application/json")
            response.headers.raw.extend(headers.headers.raw)
            return response

        return fast


async def well_formed(request: Request) -> MessageIn | None:
    """The message of a JSON body FastAPI would accept as it is; None for anything else."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "application/json":
        return None
    body = await request.body()  # kept by the request: FastAPI's handler reads it again
    try:
        return MessageIn.model_validate(json.loads(body))
    except (ValueError, ValidationError, RecursionError):
        return None


router.add_api_route(
    "/chat/{id}",
    chat,
    methods=["POST"],
    response_model=ChatReply,
    responses={**TURN_ERRORS, **ACCEPTED},
    route_class_override=ChatRoute,
)


@router.get("/chat/{id}/history", response_model=HistoryView)
async def history(
    chat_agent: ChatActor,
    settings: SettingsDep,
    limit: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
    before: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None,
) -> HistoryView:
    """The latest entries of the conversation (default: the history view); page with ?before=."""
    limit = min(limit or settings.limits.history_view, settings.limits.history_view_max)
    return await newest_entries(chat_agent, limit, before)


async def newest_entries(
    chat_agent: ChatAgentClient, limit: int, before: int | None
) -> HistoryView:
    """Up to ``limit`` entries before ``before``: one actor answer carries the newest that fit
    under daprd's max body size (``store/payload.py``), so ask on for the older ones."""
    view = await chat_agent.history(HistoryQuery(limit=limit, before=before))
    entries = view.history
    older = view
    while len(entries) < limit and older.next_before is not None:
        older = await chat_agent.history(
            HistoryQuery(limit=limit - len(entries), before=older.next_before)
        )
        if not older.history:
            break
        entries = older.history + entries
    return view.model_copy(update={"history": entries, "next_before": older.next_before})
