"""A conversation as a session: its summary, its export, its deletion.

Each route acts on the session's own thread, or with ``?agent=`` on that agent's thread
(deps.ThreadId). ``GET /chat/{id}`` sums up one conversation and lists the session's agents,
``GET /chat/{id}/export`` streams all of it as JSON Lines a page at a time (the app never
holds more than one page), ``DELETE /chat/{id}`` erases it everywhere: the actors' state
(ChatAgent erases its own, then ResponseAgent's and Memory's, under its turn lock) and the
user's dead letters (ChatAgent too); without ``?agent=``, every thread of the session
(actors/threads.py).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from agent_actors.actors.interfaces import CallsQuery, ExportQuery, SessionSummary
from agent_actors.actors.proxies import ResponseAgentClient
from agent_actors.actors.threads import AgentThread, erase_session, session_agents
from agent_actors.api.deps import (
    AdminOnly,
    Agent,
    ChatActor,
    Deps,
    MemoryActor,
    ResponseActor,
    UserId,
)
from agent_actors.api.http_errors import USER_ROUTE, responses
from agent_actors.api.routes.calls import newest_calls
from agent_actors.errors import AgentActorsError
from agent_actors.llm.profiles import AgentProfile, model_ask
from agent_actors.models import CallRecord
from agent_actors.settings import LlmSettings, Settings
from agent_actors.store.session_index import SessionPage

log = logging.getLogger(__name__)
router = APIRouter(tags=["sessions"], responses=responses(*USER_ROUTE))
# Entries per actor call of an export: one or two stored pages.
EXPORT_PAGE = 50


class ProfileInUse(BaseModel):
    """How the conversation's agent answers: its profile over the settings."""

    responder: str = Field(description="offline, or the OpenAI-compatible client")
    model: str | None = Field(None, description="the model asked (a real responder only)")
    memory_window: int = Field(description="memory entries in each prompt")
    prompt_history: int = Field(description="recent history entries in each prompt")


class SessionView(SessionSummary):
    id: str
    memory_size: int = Field(description="entries in the memory window")
    memory_last_seq: int = Field(description="the last turn memory reflects")
    replies: int = Field(description="replies ResponseAgent has given")
    profile: ProfileInUse
    agents: list[AgentThread] = Field(
        description="every agent thread of the session, the session's own (the default "
        "agent's) first, then the others in the order of their first turns"
    )


@router.get("/sessions", dependencies=[AdminOnly])
async def sessions(
    deps: Deps,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    after: Annotated[str | None, Query(max_length=200)] = None,
) -> SessionPage:
    """Conversations, newest activity first, paged (`after`: the previous page's
    `next_after`); with API keys, an admin key. A page reads a bounded number of keys
    (`AGENT_ACTORS_LIMITS__INDEX_PAGE_KEYS`), so it may hold fewer than `limit`: go on while
    `next_after` is set. Turns and last activity are as of the index's latest update (at most
    `AGENT_ACTORS_LIMITS__INDEX_BUCKET_S` old): `GET /chat/{id}` has the exact numbers."""
    if deps.sessions is None:
        return SessionPage(sessions=[])
    return await deps.sessions.page(limit, after, time.time())


@router.get("/chat/{id}", response_model=SessionView)
async def session(
    id: UserId,
    agent: Agent,
    deps: Deps,
    chat_agent: ChatActor,
    memory_agent: MemoryActor,
    response_agent: ResponseActor,
) -> SessionView:
    """One conversation's summary (`?agent=`: that agent's thread): turns, memory, pending
    events, activity, its agent (the one named, else the default's, before the first turn),
    and the session's agents with their turns."""
    summary = await chat_agent.summary()
    memory = await memory_agent.status()
    summary.agent = summary.agent or agent or deps.profiles.default
    return SessionView(
        **summary.model_dump(),
        id=id,
        memory_size=len(memory.memory),
        memory_last_seq=memory.last_seq,
        replies=await response_agent.message_count(),
        profile=profile_in_use(deps.profiles.resolve(summary.agent), deps.settings),
        agents=await session_agents(deps, id),
    )


def profile_in_use(profile: AgentProfile, settings: Settings) -> ProfileInUse:
    llm, limits = settings.llm, settings.limits
    offline = llm.base_url is None and llm.api_key is None
    return ProfileInUse(
        responder="offline" if offline else "openai",
        model=None if offline else model_ask(profile, llm).model,
        memory_window=limits.memory_window
        if profile.memory_window is None
        else profile.memory_window,
        prompt_history=limits.prompt_history
        if profile.prompt_history is None
        else profile.prompt_history,
    )


@router.delete("/chat/{id}", status_code=204, response_class=Response)
async def delete(id: UserId, agent: Agent, deps: Deps, chat_agent: ChatActor) -> Response:
    """Erase the session everywhere, every agent's thread of it (`?agent=`: that agent's
    thread only); a second delete is a 204 too. A turn racing it runs wholly before it or
    starts a new conversation (seq 1) after it."""
    # ChatAgent erases everything of its thread, its dead letters and its registration
    # included: a retention erase is the same call, with no route around it.
    if agent is None:
        await erase_session(deps, id)
    else:
        await chat_agent.delete()
    return Response(status_code=204)


@router.get(
    "/chat/{id}/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
async def export(
    id: UserId,
    chat_agent: ChatActor,
    memory_agent: MemoryActor,
    response_agent: ResponseActor,
    deps: Deps,
) -> StreamingResponse:
    """The whole conversation as JSON Lines: a `session` line, every `entry` (index, seq,
    role, content, commit time), the `memory` window, the `call` records (the newest kept);
    cut by an error after the 200, it ends with an `error` line {code, detail}."""
    # Read before the 200 goes out, so an unavailable actor is still an error status.
    summary = await chat_agent.summary()

    async def lines() -> AsyncIterator[bytes]:
        yield line({"type": "session", "id": id, **summary.model_dump()})
        start = 0
        while True:
            page = await chat_agent.export_entries(ExportQuery(start=start, limit=EXPORT_PAGE))
            for entry in page.entries:
                yield line({"type": "entry", **entry.model_dump()})
            start += len(page.entries)
            if not page.entries or start >= page.total:
                break
        memory = await memory_agent.status()
        yield line(
            {
                "type": "memory",
                "last_seq": memory.last_seq,
                "window": [m.model_dump() for m in memory.memory],
            }
        )
        async for record in call_records(response_agent, deps.settings.llm):
            yield line({"type": "call", **record.model_dump(mode="json")})

    return StreamingResponse(ended_by_error(lines(), id), media_type="application/x-ndjson")


async def ended_by_error(lines: AsyncIterator[bytes], user: str) -> AsyncIterator[bytes]:
    """``lines``, and when one fails after the 200 went out, a last ``error`` line saying why
    (the status cannot change any more): a cut export never looks like a whole one."""
    try:
        async for part in lines:
            yield part
    except AgentActorsError as exc:
        log.warning("export of user=%s cut by %s: %s", user, exc.code, exc.message)
        yield line({"type": "error", "code": exc.code, "detail": exc.message})
    except Exception:
        log.exception("export of user=%s cut by an unexpected error", user)
        yield line(
            {
                "type": "error",
                "code": "internal_error",
                "detail": "an unexpected error happened; it has been logged",
            }
        )


async def call_records(agent: ResponseAgentClient, llm: LlmSettings) -> AsyncIterator[CallRecord]:
    """The kept call records, oldest first, a stored page's worth at a time (the app holds no
    more than that; each actor answer stays under daprd's max body size)."""
    newest = await agent.calls(CallsQuery(limit=1))
    start = max(0, newest.total - llm.calls_kept)
    while start < newest.total:
        end = min(newest.total, start + llm.calls_page_size)
        page = await newest_calls(agent, end - start, end)
        for record in page.calls:
            yield record
        start = end


def line(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode() + b"\n"
