"""GET /inspect/{id}/cache: what this process holds in memory for a user's actors."""

from __future__ import annotations

from fastapi import APIRouter

from agent_actors.actors.cache import resident_keys_of
from agent_actors.api.deps import UserId

router = APIRouter(tags=["inspect"])


@router.get("/inspect/{id}/cache")
async def state_cache(id: UserId) -> dict[str, list[str] | None]:
    """The state keys each of the user's actors keeps cached in this app process (null: the
    actor is not active here); bounded whatever the conversation's length."""
    return resident_keys_of(id)
