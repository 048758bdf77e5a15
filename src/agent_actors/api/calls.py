"""GET /chat/{id}/calls: the model calls of a conversation, as ResponseAgent recorded them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from agent_actors.actors import naming
from agent_actors.actors.boundary import unwrap
from agent_actors.actors.interfaces import ResponseAgentInterface
from agent_actors.actors.state import CallRecord
from agent_actors.api.deps import Proxies, UserId

router = APIRouter(tags=["chat"])
MAX_LIMIT = 200


class CallsOut(BaseModel):
    calls: list[CallRecord]
    total: int
    next_before: int | None = None


@router.get("/chat/{id}/calls", response_model=CallsOut)
async def calls(
    id: UserId,
    proxies: Proxies,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    before: Annotated[int | None, Query(ge=0)] = None,
) -> CallsOut:
    """The latest model calls (oldest first: time, model, latency, tokens, tools, status);
    page back with ?before=next_before."""
    proxy = proxies.create(naming.RESPONSE, naming.response_id(id), ResponseAgentInterface)
    page = unwrap(await proxy.GetCalls({"limit": limit, "before": before}))
    return CallsOut.model_validate(page)
