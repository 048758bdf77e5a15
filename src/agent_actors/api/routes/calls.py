"""GET /chat/{id}/calls: the model calls of a conversation, as ResponseAgent recorded them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from agent_actors.actors.interfaces import CallsQuery, CallsView
from agent_actors.actors.proxies import ResponseAgentClient
from agent_actors.api.deps import ResponseActor
from agent_actors.api.http_errors import USER_ROUTE, responses
from agent_actors.api.schemas import MAX_INT

router = APIRouter(tags=["chat"], responses=responses(*USER_ROUTE))
MAX_LIMIT = 200


@router.get("/chat/{id}/calls", response_model=CallsView)
async def calls(
    response_agent: ResponseActor,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    before: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None,
) -> CallsView:
    """The latest model calls (oldest first: time, model, latency, tokens, tools, status);
    page back with ?before=next_before."""
    return await newest_calls(response_agent, limit, before)


async def newest_calls(agent: ResponseAgentClient, limit: int, before: int | None) -> CallsView:
    """Up to ``limit`` records before ``before``: one actor answer carries the newest that fit
    under daprd's max body size (``store/payload.py``), so ask on for the older ones."""
    view = await agent.calls(CallsQuery(limit=limit, before=before))
    records = view.calls
    older = view
    while len(records) < limit and older.next_before is not None:
        older = await agent.calls(CallsQuery(limit=limit - len(records), before=older.next_before))
        if not older.calls:
            break
        records = older.calls + records
    return view.model_copy(update={"calls": records, "next_before": older.next_before})
