"""Memory's repair routes: rebuild from the history, and the dead letters (view, replay).

``GET /memory/{id}`` itself is in ``views.py``. Replay needs no stored message: the turns of
a dead-lettered seq are in ChatAgent's committed history, which MemoryAgentActor reads.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from agent_actors.actors.interfaces import MemoryView
from agent_actors.api.deps import AdminOnly, DeadLetters, MemoryActor, UserId
from agent_actors.api.errors import USER_ROUTE, responses
from agent_actors.api.schemas import DeadLettersView, ReplayAnswer
from agent_actors.store.dead_letters import UnparsedDeadLetters

router = APIRouter(tags=["memory"])
USER_ERRORS = responses(*USER_ROUTE)


@router.post("/memory/{id}/rebuild", responses=USER_ERRORS)
async def rebuild(memory_agent: MemoryActor) -> MemoryView:
    """Rebuild MemoryAgentActor({id})'s window from the committed history."""
    return await memory_agent.rebuild()


@router.get("/memory/{id}/dead-letters", responses=USER_ERRORS)
async def dead_letters(
    id: UserId, memory_agent: MemoryActor, store: DeadLetters
) -> DeadLettersView:
    """This user's dead-lettered events (seqs, never content) and how far memory is."""
    log = await store.user(id)
    status = await memory_agent.status()
    return DeadLettersView(
        dead_letters=log.letters, total=log.total, last_seq=status.last_seq, turns=status.turns
    )


@router.post("/memory/{id}/dead-letters/replay", responses=USER_ERRORS)
async def replay(id: UserId, memory_agent: MemoryActor, store: DeadLetters) -> ReplayAnswer:
    """Apply the turns of this user's dead letters (from the history); marks them replayed."""
    waiting = [letter.seq for letter in (await store.user(id)).letters if not letter.replayed_at]
    if not waiting:
        status = await memory_agent.status()
        return ReplayAnswer(**status.model_dump(), replayed=[])
    result = await memory_agent.catch_up(max(waiting))
    replayed = await store.mark_replayed(id, result.last_seq, datetime.now(UTC))
    return ReplayAnswer(**result.model_dump(), replayed=replayed)


@router.get("/events/dead-letters", dependencies=[AdminOnly], responses=responses(401, 403, 503))
async def unparsed_dead_letters(store: DeadLetters) -> UnparsedDeadLetters:
    """Dead letters that were not a readable ConversationUpdated: why, never content (admin)."""
    return await store.unparsed()
