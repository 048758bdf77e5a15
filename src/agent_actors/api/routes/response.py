"""GET /response/{id}/count: what ResponseAgent({id}) has done."""

from __future__ import annotations

from fastapi import APIRouter

from agent_actors.api.deps import ResponseActor
from agent_actors.api.http_errors import USER_ROUTE, responses
from agent_actors.api.schemas import CountOut

router = APIRouter(tags=["inspect"])


@router.get("/response/{id}/count", responses=responses(*USER_ROUTE))
async def count(response_agent: ResponseActor) -> CountOut:
    """How many replies ResponseAgent({id}) has given."""
    return CountOut(count=await response_agent.message_count())
