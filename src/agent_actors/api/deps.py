"""``Annotated`` dependency aliases the routers share: settings, the checked user id, the
thread a route acts on (``?agent=``), and typed clients of that thread's actors.

Every dependency is ``async def`` although none awaits: FastAPI runs a plain ``def``
dependency in its thread pool, a thread hop per dependency per request (on a turn's path:
``/chat`` and ``/subscribe``), which cost more than the work itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agent_actors import logs
from agent_actors.actors.proxies import ChatAgentClient, MemoryAgentClient, ResponseAgentClient
from agent_actors.actors.runs import TurnRuns
from agent_actors.actors.services import ActorDeps
from agent_actors.actors.threads import checked_agent
from agent_actors.api import auth
from agent_actors.api.ratelimit import RateLimiter
from agent_actors.api.schemas import SubscriptionStats
from agent_actors.models import check_user_id
from agent_actors.settings import Settings
from agent_actors.store.dead_letters import DeadLetterStore
from agent_actors.streams.hub import StreamHub


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_deps(request: Request) -> ActorDeps:
    deps: ActorDeps = request.app.state.deps
    return deps


# The scheme /docs offers (its Authorize button). Only declared here: the checks below read
# the raw header themselves (see auth.py), and without API keys every route is open.
BEARER = HTTPBearer(
    auto_error=False,
    description="an API key from AGENT_ACTORS_AUTH__API_KEYS (only when API keys are set)",
)
BearerKey = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]


# The scope key under which a request's user id is kept once its caller was checked.
CHECKED_USER = "agent_actors.user_id"


async def check_caller(request: Request, id: str) -> str:
    """The user id, valid, and (with API keys) the caller's key bound to it and within its
    rate: once per request, before anything reads the body."""
    settings: Settings = request.app.state.settings
    user_id = check_user_id(id, settings.limits.max_id_chars)
    if settings.auth.api_keys:
        auth.authorize_user(settings.auth.api_keys, _authorization(request), user_id)
        _take_token(request, settings)
    # (Not run in a thread: the binding stays in this request's context.)
    logs.bind(user=user_id)
    request.scope[CHECKED_USER] = user_id
    return user_id


async def get_user_id(request: Request, id: Annotated[str, Path()], _key: BearerKey) -> str:
    checked: str | None = request.scope.get(CHECKED_USER)
    return checked if checked is not None else await check_caller(request, id)


class CallerFirst(APIRoute):
    """A route whose caller is checked before its body is read: FastAPI reads and parses a
    body before it solves any dependency, so a client without a valid key (or over its rate)
    would otherwise cost a parse (up to ``limits.max_body_bytes``) before its 401/403/429."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            if "id" in request.path_params:
                await check_caller(request, request.path_params["id"])
            return await handler(request)

        return checked


async def get_caller(request: Request, _user: Annotated[str, Depends(get_user_id)]) -> str:
    """Who calls a user's route, as records name them: the API key's label or identity (never
    the key itself), or ``anonymous`` when API keys are off."""
    keys = request.app.state.settings.auth.api_keys
    return auth.key_identity(keys, _authorization(request)) if keys else "anonymous"


async def get_approver(request: Request, caller: Annotated[str, Depends(get_caller)]) -> str:
    """The caller, if it may approve tool calls (403 approver_required otherwise)."""
    settings: Settings = request.app.state.settings
    if settings.auth.api_keys:
        auth.authorize_approval(settings.auth, _authorization(request))
    return caller


async def require_admin(request: Request, _key: BearerKey) -> None:
    """With API keys set, service-wide views need an admin key (bound to ``*``)."""
    settings: Settings = request.app.state.settings
    if settings.auth.api_keys:
        auth.authorize_admin(settings.auth.api_keys, _authorization(request))
        _take_token(request, settings)


async def require_key(request: Request, _key: BearerKey) -> None:
    """With API keys set, views that show no user's data need a known key, any one."""
    settings: Settings = request.app.state.settings
    if settings.auth.api_keys:
        auth.key_users(settings.auth.api_keys, _authorization(request))
        _take_token(request, settings)


def _take_token(request: Request, settings: Settings) -> None:
    """One request of this API key's budget (AGENT_ACTORS_AUTH__RATE_PER_S), when bounded."""
    rate = settings.auth.rate_per_s
    if rate is None:
        return
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        limiter = request.app.state.rate_limiter = RateLimiter(rate, settings.auth.rate_burst)
    # Keyed by the key as sent: only known keys get here (authorized just before).
    limiter.take(_authorization(request).partition(" ")[2])


def _authorization(request: Request) -> str:
    return request.headers.get("authorization", "")


async def get_stats(request: Request) -> SubscriptionStats:
    stats: SubscriptionStats = request.app.state.subscription_stats
    return stats


async def get_dead_letters(request: Request) -> DeadLetterStore:
    store: DeadLetterStore = request.app.state.deps.dead_letters
    return store


async def get_streams(request: Request) -> StreamHub:
    hub: StreamHub = request.app.state.streams
    return hub


async def get_stream_turns(request: Request) -> set[asyncio.Task[Any]]:
    turns: set[asyncio.Task[Any]] = request.app.state.stream_turns
    return turns


async def get_runs(request: Request) -> TurnRuns:
    # The actors' own (ActorDeps): a wait wakes when the actors signal a change.
    runs: TurnRuns = request.app.state.deps.runs
    return runs


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
Deps = Annotated[ActorDeps, Depends(get_deps)]
UserId = Annotated[str, Depends(get_user_id)]
Caller = Annotated[str, Depends(get_caller)]
Approver = Annotated[str, Depends(get_approver)]
AdminOnly = Depends(require_admin)  # a route-level `dependencies=[AdminOnly]`
AnyKey = Depends(require_key)  # a route-level `dependencies=[AnyKey]`
Stats = Annotated[SubscriptionStats, Depends(get_stats)]
DeadLetters = Annotated[DeadLetterStore, Depends(get_dead_letters)]
Streams = Annotated[StreamHub, Depends(get_streams)]
# Streamed turns whose client left keep running: holding the task keeps it from being collected.
StreamTurns = Annotated[set[asyncio.Task[Any]], Depends(get_stream_turns)]
Runs = Annotated[TurnRuns, Depends(get_runs)]


AgentQuery = Annotated[
    str | None,
    Query(
        alias="agent",
        description="the session's thread of this agent (GET /agents); left out: the default "
        "agent's, the conversation the tutorial's routes show",
    ),
]


async def get_agent(deps: Deps, agent: AgentQuery = None) -> str | None:
    """The agent ``?agent=`` names, checked (422 invalid_input, unknown_agent); None: none."""
    return checked_agent(deps.profiles, agent)


Agent = Annotated[str | None, Depends(get_agent)]


async def get_thread_id(deps: Deps, user_id: UserId, agent: Agent) -> str:
    """The actor id of the thread a user route acts on: the session's own (no ``?agent=``, or
    the default's), else that agent's (models.thread_id)."""
    return await deps.threads.thread_of(user_id, agent, deps.profiles.default)


ThreadId = Annotated[str, Depends(get_thread_id)]


async def chat_agent(deps: Deps, thread: ThreadId) -> ChatAgentClient:
    return ChatAgentClient(deps.proxies, thread)


async def response_agent(deps: Deps, thread: ThreadId) -> ResponseAgentClient:
    return ResponseAgentClient(deps.proxies, thread)


async def memory_agent(deps: Deps, thread: ThreadId) -> MemoryAgentClient:
    return MemoryAgentClient(deps.proxies, thread)


ChatActor = Annotated[ChatAgentClient, Depends(chat_agent)]
ResponseActor = Annotated[ResponseAgentClient, Depends(response_agent)]
MemoryActor = Annotated[MemoryAgentClient, Depends(memory_agent)]
