"""A conversation as a session: its summary, its export, its deletion.

``GET /chat/{id}`` sums up one conversation, ``GET /chat/{id}/export`` streams all of it as
JSON Lines a page at a time (the app never holds more than one page), ``DELETE /chat/{id}``
erases it everywhere: the actors' state (ChatAgent erases its own, then ResponseAgent's and
Memory's, under its turn lock) and the user's dead letters.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from agent_actors.actors.interfaces import CallsQuery, ExportQuery, SessionSummary
from agent_actors.actors.session_index import SessionPage
from agent_actors.api.deps import (
    AdminOnly,
    ChatActor,
    DeadLetters,
    Deps,
    MemoryActor,
    ResponseActor,
    UserId,
)
from agent_actors.api.errors import USER_ROUTE, responses

router = APIRouter(tags=["sessions"], responses=responses(*USER_ROUTE))
# Entries per actor call of an export: one or two stored pages.
EXPORT_PAGE = 50


class AgentProfile(BaseModel):
    responder: str = Field(description="offline, or the OpenAI-compatible client")
    model: str | None = Field(None, description="the model asked (a real responder only)")
    memory_window: int
    prompt_history: int


class SessionView(SessionSummary):
    id: str
    memory_size: int = Field(description="entries in the memory window")
    memory_last_seq: int = Field(description="the last turn memory reflects")
    replies: int = Field(description="replies ResponseAgent has given")
    profile: AgentProfile


@router.get("/sessions", dependencies=[AdminOnly])
async def sessions(
    deps: Deps,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    after: Annotated[str | None, Query(max_length=200)] = None,
) -> SessionPage:
    """Conversations, newest activity first, paged (`after`: the previous page's
    `next_after`); with API keys, an admin key. Turns and last activity are as of the index's
    latest update (at most `AGENT_ACTORS_LIMITS__INDEX_BUCKET_S` old): `GET /chat/{id}` has
    the exact numbers."""
    if deps.sessions is None:
        return SessionPage(sessions=[])
    return await deps.sessions.page(limit, after, time.time())


@router.get("/chat/{id}", response_model=SessionView)
async def session(
    id: UserId,
    deps: Deps,
    chat_agent: ChatActor,
    memory_agent: MemoryActor,
    response_agent: ResponseActor,
) -> SessionView:
    """One conversation's summary: turns, memory, pending events, activity, the agent."""
    summary = await chat_agent.summary()
    memory = await memory_agent.status()
    offline = deps.settings.llm.base_url is None and deps.settings.llm.api_key is None
    profile = AgentProfile(
        responder="offline" if offline else "openai",
        model=None if offline else deps.settings.llm.model,
        memory_window=deps.settings.limits.memory_window,
        prompt_history=deps.settings.limits.prompt_history,
    )
    return SessionView(
        **summary.model_dump(),
        id=id,
        memory_size=len(memory.memory),
        memory_last_seq=memory.last_seq,
        replies=await response_agent.message_count(),
        profile=profile,
    )


@router.delete("/chat/{id}", status_code=204, response_class=Response)
async def delete(id: UserId, chat_agent: ChatActor, store: DeadLetters) -> Response:
    """Erase the conversation everywhere; a second delete is a 204 too. A turn racing it
    runs wholly before it or starts a new conversation (seq 1) after it."""
    await chat_agent.delete()
    await store.forget(id)
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
    role, content, commit time), the `memory` window, the `call` records (the newest kept)."""
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
        # The call log keeps the newest `calls_kept` records (bounded): one page of them.
        calls = await response_agent.calls(CallsQuery(limit=deps.settings.llm.calls_kept))
        for record in calls.calls:
            yield line({"type": "call", **record.model_dump(mode="json")})

    return StreamingResponse(lines(), media_type="application/x-ndjson")


def line(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode() + b"\n"
