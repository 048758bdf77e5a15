"""GET /inspect/{id}/cache: what this process holds in memory for a user's actors."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from agent_actors.api.deps import UserId
from agent_actors.api.errors import responses
from agent_actors.sidecar.state_cache import resident_keys_of

router = APIRouter(tags=["inspect"])
NOT_HERE = "null: the actor is not active in this process"


class CacheView(BaseModel):
    """The state keys each of the user's actors keeps cached, by actor type."""

    ChatAgent: list[str] | None = Field(description=NOT_HERE)
    ResponseAgent: list[str] | None = Field(description=NOT_HERE)
    MemoryAgentActor: list[str] | None = Field(description=NOT_HERE)


@router.get("/inspect/{id}/cache", responses=responses(401, 403, 422))
async def state_cache(id: UserId) -> CacheView:
    """The state keys each of the user's actors keeps cached in this app process (null: the
    actor is not active here); bounded whatever the conversation's length."""
    return CacheView.model_validate(resident_keys_of(id))
